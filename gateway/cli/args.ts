// Argument parsing shared by the commands (node:util parseArgs), with usage errors that say what to type.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SluiceError } from '../errors.js';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
  usage: string,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new SluiceError('SLUICE_USAGE', (err as Error).message, { hint: `usage: ${usage}` });
  }
}
