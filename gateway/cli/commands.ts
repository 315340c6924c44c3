// The list of CLI commands: each with its usage, help and an async run() returning the exit code.
import type { Command } from './args.js';
import { configSchemaCommand, checkCommand } from './config.js';
import { configDocsCommand } from './docs.js';
import { fleetKeygenCommand, fleetSignCommand } from './fleet/keys.js';
import { fleetPushCommand } from './fleet/push.js';
import { fleetStatusCommand } from './fleet/status.js';
import { passwdCommand } from './passwd.js';
import { queueDeadLettersCommand, queueDropCursorCommand, queueStatsCommand } from './queue.js';
import { runCommand } from './run.js';
import { serialListCommand } from './serial.js';
import { statusCommand } from './status.js';
import { topCommand } from './top.js';

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
