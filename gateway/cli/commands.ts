// The list of CLI commands: each with its usage, help and an async run() returning the exit code.
import { configSchemaCommand, checkCommand } from './config.js';
import { queueDeadLettersCommand, queueDropCursorCommand, queueStatsCommand } from './queue.js';
import { passwdCommand } from './passwd.js';
import { runCommand } from './run.js';

export interface Command {
  /** Words that select the command, e.g. `queue stats`. */
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly help?: string;
  run(args: string[]): Promise<number>;
}

export const commands: readonly Command[] = [
  runCommand,
  checkCommand,
  configSchemaCommand,
  queueStatsCommand,
  queueDropCursorCommand,
  queueDeadLettersCommand,
  passwdCommand,
];
