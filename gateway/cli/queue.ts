// `sluice queue stats`, `dead-letters` and `drop-cursor`: work on a stopped gateway's data directory
// (stats also beside a running one: LMDB allows concurrent readers).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { SluiceError } from '../errors.js';
import { Queue } from '../queue/queue.js';
import { parse, type Command } from './args.js';

const dirOptions = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string', short: 'd' },
  json: { type: 'boolean' },
} as const;

/**
 * Opens the queue of the gateway named by -c CONFIG or -d DATA_DIR. Only a config says which limits are
 * in force (`limits: false` with -d): commands must not show the placeholder limits opened with then.
 */
function openQueue(
  values: { config?: string; 'data-dir'?: string },
  usage: string,
  readOnly: boolean,
): { queue: Queue; limits: boolean } {
  const config =
    values['data-dir'] === undefined && values.config ? loadConfigFile(values.config) : undefined;
  const dataDir = values['data-dir'] ?? config?.gateway.data_dir;
  if (!dataDir)
    throw new SluiceError('SLUICE_USAGE', 'say which gateway: -c CONFIG or -d DATA_DIR', { hint: usage });
  const dir = join(dataDir, 'queue');
  if (!existsSync(join(dir, 'data.mdb'))) {
    throw new SluiceError('SLUICE_QUEUE_IO', `no queue in ${dir}`, {
      retriable: false, // a missing directory does not appear by itself
      hint: 'check the data directory (gateway.data_dir in the config)',
    });
  }
  const queue = Queue.open({
    dir,
    // Placeholder without a config: these commands never append, and the map size is at least the file's.
    maxBytes: config?.queue.max_bytes ?? 1,
    onFull: config?.queue.on_full ?? 'reject_new',
    readOnly,
  });
  return { queue, limits: config !== undefined };
}

export const queueStatsCommand: Command = {
  name: 'queue stats',
  usage: '(-c CONFIG | -d DATA_DIR) [--json]',
  summary: "Show queue depth, bytes, drops and each sink cursor's lag.",
  run(args) {
    const usage = 'sluice queue stats (-c CONFIG | -d DATA_DIR) [--json]';
    const { values } = parse(args, dirOptions, usage);
    const { queue, limits } = openQueue(values, usage, true);
    const s = queue.stats();
    if (values.json) {
      // Without a config the limits in force are unknown: leave them out rather than print placeholders.
      // How this process would commit, and whether its appends would find the disk full, says nothing about
      // the gateway's: left out too.
      const { commitMode: _mode, commitModeFallbacks: _fallbacks, diskFull: _diskFull, ...stored } = s;
      const { maxBytes: _maxBytes, onFull: _onFull, ...withoutLimits } = stored;
      process.stdout.write(`${JSON.stringify(limits ? stored : withoutLimits, null, 2)}\n`);
    } else {
      const lines = [
        s.depth === 0
          ? `depth      0 readings (empty; last seq ${s.lastSeq})`
          : `depth      ${s.depth} readings (seq ${s.firstSeq}..${s.lastSeq})`,
        `bytes      ${s.bytes}${limits ? ` of ${s.maxBytes} (when full: ${s.onFull})` : ''}`,
        `dropped    ${s.dropped}`,
        `dead       ${s.deadLetters} dead letters`,
        'cursors:',
        ...s.cursors.map(
          (c) =>
            `  ${c.name.padEnd(20)} acked ${c.acked}  lag ${c.lag}  oldest unacked ${c.oldestUnackedAgeMs === null ? '-' : `${Math.round(c.oldestUnackedAgeMs / 1000)}s`}  dropped ${c.dropped}`,
        ),
      ];
      if (s.cursors.length === 0) lines.push('  (none)');
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return queue.close().then(() => 0);
  },
};

export const queueDropCursorCommand: Command = {
  name: 'queue drop-cursor',
  usage: 'NAME (-c CONFIG | -d DATA_DIR)',
  summary:
    'Forget the cursor of a sink that is gone for good, so its backlog can be trimmed. Gateway must be stopped.',
  async run(args) {
    const usage = 'sluice queue drop-cursor NAME (-c CONFIG | -d DATA_DIR)';
    const { values, positionals } = parse(args, dirOptions, usage);
    const name = positionals[0];
    if (!name) throw new SluiceError('SLUICE_USAGE', 'which cursor?', { hint: usage });
    const { queue } = openQueue(values, usage, false);
    const removed = await queue.removeCursor(name);
    await queue.close();
    if (!removed)
      throw new SluiceError('SLUICE_CURSOR_UNKNOWN', `no cursor named ${name}`, {
        hint: 'list them with `sluice queue stats`',
      });
    process.stdout.write(`cursor ${name} removed\n`);
    return 0;
  },
};

export const queueDeadLettersCommand: Command = {
  name: 'queue dead-letters',
  usage: 'SINK (-c CONFIG | -d DATA_DIR) [--limit N] [--json]',
  summary: "List readings a sink's upstream refused for good (parked, not lost), with the reason.",
  run(args) {
    const usage = 'sluice queue dead-letters SINK (-c CONFIG | -d DATA_DIR) [--limit N] [--json]';
    const { values, positionals } = parse(args, { ...dirOptions, limit: { type: 'string' } }, usage);
    const sink = positionals[0];
    if (!sink) throw new SluiceError('SLUICE_USAGE', 'which sink?', { hint: usage });
    const limit = Number(values.limit ?? 100);
    if (!Number.isInteger(limit) || limit < 1)
      throw new SluiceError('SLUICE_USAGE', '--limit takes a whole number >= 1', { hint: usage });
    const { queue } = openQueue(values, usage, true);
    const dead = queue.deadLetters(sink, limit);
    if (values.json) process.stdout.write(`${JSON.stringify(dead, null, 2)}\n`);
    else if (dead.length === 0) process.stdout.write(`no dead letters for ${sink}\n`);
    else {
      const lines = dead.map(
        (d) =>
          `seq ${d.seq}  ${new Date(d.at).toISOString()}  ${d.code}: ${d.message}  ${d.reading ? `${d.reading.device}/${d.reading.metric}` : ''}`,
      );
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return queue.close().then(() => 0);
  },
};
