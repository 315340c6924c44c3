// Files a config names (TLS certificates and keys, password files, the config itself): read with one
// error shape that names the option, the path and the cause, instead of a bare ENOENT.
import { readFileSync } from 'node:fs';
import { SluiceError, errorMessage } from '../errors.js';

/** Reads a file named by a config option; `what` names it for the operator (`TLS certificate`, ...). */
export function readConfigFile(file: string, what: string, hint?: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SluiceError('SLUICE_CONFIG_READ', `cannot read ${what} ${file}: ${errorMessage(err)}`, {
      hint: hint ?? 'check the path in the config and that the sluice user may read it',
      cause: err,
    });
  }
}

export function readConfigText(file: string, what: string, hint?: string): string {
  return readConfigFile(file, what, hint).toString('utf8');
}
