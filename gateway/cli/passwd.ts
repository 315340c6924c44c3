// `sluice passwd`: makes the scrypt hash of a device password for the mqtt_broker source (`users:` in the config,
// or a password_file), like mosquitto_passwd. The password is read from the terminal without echo, or stdin.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { SluiceError } from '../errors.js';
import { DEFAULT_COST, hashPassword } from '../sources/mqtt-broker/auth.js';
import { parse, type Command } from './args.js';

const USAGE = 'sluice passwd [-f PASSWORD_FILE] [--cost LOG2_N] USERNAME < password';

export const passwdCommand: Command = {
  name: 'passwd',
  usage: '[-f PASSWORD_FILE] [--cost LOG2_N] USERNAME',
  summary: 'Hash a device password for the mqtt_broker source (users: or password_file).',
  help: [
    'Reads the password from the terminal (not echoed) or the first line of stdin.',
    'Without -f, prints a `USERNAME: "<hash>"` line to paste under `users:`.',
    'With -f, adds or replaces USERNAME in PASSWORD_FILE (created with mode 0600).',
    `--cost sets scrypt's log2(N) (default ${DEFAULT_COST.ln}); each step doubles the time and memory of every check.`,
  ].join('\n'),
  async run(args) {
    const { values, positionals } = parse(
      args,
      { file: { type: 'string', short: 'f' }, cost: { type: 'string' } },
      USAGE,
    );
    const username = positionals[0];
    if (username === undefined || positionals.length > 1)
      throw new SluiceError('SLUICE_USAGE', 'passwd needs exactly one USERNAME', { hint: USAGE });
    if (/[:\s]/.test(username))
      throw new SluiceError('SLUICE_USAGE', 'a username cannot hold `:` or spaces', { hint: USAGE });
    const ln = values.cost === undefined ? DEFAULT_COST.ln : Number(values.cost);
    if (!Number.isInteger(ln) || ln < 10 || ln > 20)
      throw new SluiceError('SLUICE_USAGE', '--cost must be an integer from 10 to 20', { hint: USAGE });
    const password = await readPassword();
    if (password === '') throw new SluiceError('SLUICE_USAGE', 'empty password', { hint: USAGE });
    const hash = await hashPassword(password, { ...DEFAULT_COST, ln });
    if (values.file === undefined) {
      process.stdout.write(`${username}: "${hash}"\n`);
      return 0;
    }
    const file = values.file;
    const kept = existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '' && !l.startsWith(`${username}:`))
      : [];
    writeFileSync(file, `${[...kept, `${username}:${hash}`].join('\n')}\n`, { mode: 0o600 });
    process.stderr.write(`${username} written to ${file}\n`);
    return 0;
  },
};

/** The terminal line typed without echo, or the first line of piped stdin. */
async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) text += String(chunk);
    return text.split(/\r?\n/)[0] ?? '';
  }
  process.stderr.write('Password: ');
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  return new Promise<string>((resolve, reject) => {
    let typed = '';
    const onData = (s: string): void => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') return finish(() => resolve(typed));
        if (ch === '\u0003') return finish(() => reject(new SluiceError('SLUICE_USAGE', 'interrupted')));
        if (ch === '\u007f') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    const finish = (then: () => void): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      then();
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}
