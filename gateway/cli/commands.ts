// The list of CLI commands: each with its usage, help and an async run() returning the exit code.
import { configSchemaCommand, checkCommand } from './config.js';
import { queueDeadLettersCommand, queueDropCursorCommand, queueStatsCommand } from './queue.js';
import { fleetKeygenCommand, fleetSignCommand } from '../fleet/cli/keys.js';
import { fleetPushCommand } from '../fleet/cli/push.js';
import { fleetStatusCommand } from '../fleet/cli/status.js';
import { configDocsCommand } from './docs.js';
import { passwdCommand } from './passwd.js';
import { runCommand } from './run.js';
import { serialListCommand } from './serial.js';
import { statusCommand } from './status.js';
import { topCommand } from './top.js';

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
  statusCommand,
  topCommand,
  checkCommand,
  configSchemaCommand,
  configDocsCommand,
  queueStatsCommand,
  queueDropCursorCommand,
  queueDeadLettersCommand,
  passwdCommand,
  serialListCommand,
  fleetKeygenCommand,
  fleetSignCommand,
  fleetPushCommand,
  fleetStatusCommand,
];
