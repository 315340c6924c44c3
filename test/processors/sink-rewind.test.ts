// A sink's chain after an upstream failure: the runner rewinds to the durable cursor and the chain forgets
// its state, so the replayed readings reach the sink. Without the reset, a deadband would judge the replay
// against the values it saw before the failure, drop them as in band, and the cursor would ack them: lost.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { validateConfig } from '../../gateway/config/load.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import type { ReadingRecord } from '../../gateway/reading.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { r } from './helpers.js';

let gw: Gateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const delivered = (dir: string): ReadingRecord[] =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort()
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ReadingRecord),
    );

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
  expect(delivered(out).map((x) => x.device)).toEqual(['a', 'b', 'c']);
});
