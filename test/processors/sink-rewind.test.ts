// A sink's chain after an upstream failure: the runner rewinds to the durable cursor and the chain forgets
// its state, so the replayed readings reach the sink. Without the reset, a deadband would judge the replay
// against the values it saw before the failure, drop them as in band, and the cursor would ack them: lost.
// And bad input at a sink's chain: counted, dropped as on_error says, the cursor moving on past it.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { validateConfig } from '../../gateway/config/load.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { r } from './helpers.js';
import { fileSinkRecords } from '../helpers/readings.js';

let gw: Gateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

test('after a failed write the replay is judged afresh: every reading the deadband passed arrives', async () => {
  const dir = tempDir('sluice-proc-rewind-');
  const out = join(dir, 'out');
  mkdirSync(out);
  const config = validateConfig({
    gateway: { id: 'gw-rw', data_dir: join(dir, 'data') },
    log: { level: 'silent' },
    observe: { http: { enabled: false } },
    sinks: {
      out: {
        type: 'file',
        path: out,
        roll_interval_ms: 100,
        batch: { linger_ms: 5 },
        retry: { initial_ms: 50, max_ms: 200 },
        processors: [{ type: 'deadband', band: 1 }],
      },
    },
  });
  gw = await Gateway.start(config, { log: silentLogger });
  const runner = (): { connected: boolean; consecutiveFailures: number } | undefined =>
    gw?.status().sinks.find((s) => s.sink === 'out');
  await until(() => runner()?.connected, { what: 'the file sink connected' });
  // A real filesystem failure: the directory becomes a plain file, so the sink's first write fails.
  renameSync(out, `${out}.away`);
  writeFileSync(out, 'not a directory');
  await gw.queue.append(['a', 'b', 'c'].map((device, i) => r({ device, value: 10, ts: i })));
  await until(() => (runner()?.consecutiveFailures ?? 0) > 0, { what: 'a failed write', timeoutMs: 10_000 });
  rmSync(out);
  renameSync(`${out}.away`, out);
  const last = gw.queue.lastSeq;
  await until(() => gw?.queue.stats().cursors.find((c) => c.name === 'out')?.acked === last, {
    what: 'the cursor acked after the replay',
    timeoutMs: 15_000,
  });
  expect(fileSinkRecords(out).map((x) => x.device)).toEqual(['a', 'b', 'c']);
});

test('bad input at a sink chain is counted and dropped by on_error, and never stalls the cursor', async () => {
  const dir = tempDir('sluice-proc-bad-');
  const out = join(dir, 'out');
  const config = validateConfig({
    gateway: { id: 'gw-bad', data_dir: join(dir, 'data') },
    log: { level: 'silent' },
    observe: { http: { enabled: false } },
    sinks: {
      out: {
        type: 'file',
        path: out,
        roll_interval_ms: 100,
        start_from: 'oldest',
        batch: { linger_ms: 5 },
        processors: [
          { type: 'scale', convert: { to: 'hPa' }, on_error: 'drop' },
          { type: 'filter', expr: 'value > 1000.0' },
        ],
      },
    },
  });
  gw = await Gateway.start(config, { log: silentLogger });
  await gw.queue.append([
    r({ metric: 'p', value: 101_325, unit: 'Pa', ts: 1 }),
    r({ metric: 'p', value: 'high', unit: 'Pa', ts: 2 }),
    r({ metric: 'p', value: 3, unit: 'degC', ts: 3 }),
    r({ metric: 'p', value: 99_000, unit: 'Pa', ts: 4 }),
    r({ metric: 'p', value: 'also bad', unit: 'Pa', ts: 5 }),
  ]);
  const last = gw.queue.lastSeq;
  await until(() => gw?.queue.stats().cursors.find((c) => c.name === 'out')?.acked === last, {
    what: 'the cursor acked past the bad readings',
    timeoutMs: 15_000,
  });
  expect(fileSinkRecords(out).map((x) => [x.value, x.unit])).toEqual([[1013.25, 'hPa']]);
  const scale = gw.metrics.processorTotals().find((t) => t.processor === '1-scale');
  expect(scale).toMatchObject({
    in: 5,
    out: 2,
    errors: { not_numeric: 2, unknown_unit: 1 },
    dropped: { error: 3 },
  });
});
