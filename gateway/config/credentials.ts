// User name and password, written once for every component that logs in to a peer (kafka SASL, the mqtt
// source, the fleet channel), and the one reader of secret files: its first line is the secret.
import { z } from 'zod';
import { SluiceError } from '../errors.js';
import { configFile } from './common.js';
import { readConfigText } from './files.js';

const PASSWORD_HINT = 'write the password on its first line (mode 0640, group of the sluice user)';

/**
 * The fields, spread into a component's schema (flat in the mqtt source and fleet channel, inside `sasl:`
 * in kafka); check them with `credentialProblems` in the component's refinement.
 */
export const credentialFields = {
  username: z.string().min(1).optional().describe('User name to log in to the peer with.'),
  password: z
    .string()
    .min(1)
    .optional()
    .describe('The password, inline; prefer password_file (a config is copied, shown and pushed).'),
  password_file: configFile(
    'File whose first line is the password (a trailing CR or LF is not part of it).',
    {
      what: 'password file',
      missingHint: PASSWORD_HINT,
    },
  ).optional(),
};

export interface Credentials {
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly password_file?: string | undefined;
}

export interface CredentialProblem {
  readonly path: readonly string[];
  readonly message: string;
}

/** What no single field can say: one password source at most (exactly one when `required`). */
export function credentialProblems(c: Credentials, required: boolean): CredentialProblem[] {
  const given = Number(c.password !== undefined) + Number(c.password_file !== undefined);
  if (given > 1 || (required && given === 0))
    return [
      {
        path: ['password'],
        message: `give ${required ? 'exactly' : 'at most'} one of password and password_file`,
      },
    ];
  return [];
}

/** The password, inline or read from its file now; undefined when neither is given. */
export function readPassword(c: Credentials): string | undefined {
  if (c.password !== undefined) return c.password;
  return c.password_file === undefined
    ? undefined
    : readSecretFile(c.password_file, 'password file', PASSWORD_HINT);
}

/**
 * The secret in `file`: its first line, without the line end (LF, or CRLF as Windows editors write it).
 * An empty first line is a config error, never an empty password sent to a peer.
 */
export function readSecretFile(file: string, what: string, missingHint?: string): string {
  const secret = readConfigText(file, what, missingHint).split(/\r?\n|\r/, 1)[0] ?? '';
  if (secret === '') {
    throw new SluiceError('SLUICE_CONFIG_INVALID', `the ${what} ${file} has an empty first line`, {
      hint: missingHint ?? 'write the secret on the first line of the file',
    });
  }
  return secret;
}
