// A gateway in its own process for benches that measure it from outside (/proc/PID/io, CPU, RSS): an MQTT
// broker source on --port, optionally a file sink (--sink file), the queue's commit_mode from --commit-mode.
// Answers 'stats' on its IPC channel with the queue's stats and each sink's status. Not a bench itself.
// Run by write-amp.mjs and pi-profile.mjs: node test/bench/ingest-child.mjs --port P --dir D [...]
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string' },
    dir: { type: 'string' },
    'commit-mode': { type: 'string', default: 'auto' },
    sink: { type: 'string', default: 'none' },
    'start-from': { type: 'string', default: 'oldest' },
    dist: { type: 'string', default: fileURLToPath(new URL('../../dist', import.meta.url)) },
  },
});

const { validateConfig } = await import(join(opts.dist, 'gateway/config/load.js'));
const { Gateway } = await import(join(opts.dist, 'gateway/runtime/gateway.js'));
const { silentLogger } = await import(join(opts.dist, 'gateway/observe/log.js'));
const config = validateConfig({
  gateway: { id: 'bench', data_dir: opts.dir },
  log: { level: 'silent' },
  queue: { max_bytes: '4GiB', commit_mode: opts['commit-mode'] },
  sources: {
    devices: {
      type: 'mqtt_broker',
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: Number(opts.port), allow_anonymous: true }],
      connect_rate_per_s: 0, // the load generator connects every publisher at once
      topics: [{ topic: 'sensors/{device}/{metric}', decoder: 'number' }],
    },
  },
  sinks:
    opts.sink === 'file'
      ? {
          out: {
            type: 'file',
            path: join(opts.dir, 'out'),
            start_from: opts['start-from'],
            roll_interval_ms: 5000,
          },
        }
      : {},
});
const gw = await Gateway.start(config, { log: silentLogger });
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ pid: process.pid, stats: gw.queue.stats(), sinks: gw.status().sinks });
  if (m === 'stop') void gw.stop().then(() => process.exit(0));
});
process.send?.('ready');
