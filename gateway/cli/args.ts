// What a CLI command is, and the argument parsing every command shares (node:util parseArgs), with usage
// errors that say what to type. The commands import this file; only commands.ts imports the commands.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SluiceError } from '../errors.js';

export interface Command {
  /** Words that select the command, e.g. `queue stats`. */
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly help?: string;
  run(args: string[]): Promise<number>;
}

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
