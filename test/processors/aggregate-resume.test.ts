// The resume point: a window committed while an older window of another device still holds the cursor has
// inputs on both sides of the cursor. After a restart it is rebuilt from the inputs above the cursor only;
// the runner's resume point (the highest seq the sink committed, kept on disk) stops that partial copy from
// going out again under the same id. The second run writes to a fresh directory, so the file sink's own
// delivered-range skip cannot hide it: that is a sink like Kafka, which keeps every copy it is sent.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { validateConfig } from '../../gateway/config/load.js';
import type { Reading, ReadingRecord } from '../../gateway/reading.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';

const WINDOW = 1000;

function config(dataDir: string, out: string) {
  return validateConfig({
    gateway: { id: 'gw-resume', data_dir: dataDir },
    log: { level: 'silent' },
    sinks: {
      agg: {
        type: 'file',
        path: out,
        max_file_readings: 1, // every window is committed as soon as it is written
        start_from: 'oldest',
        batch: { max_count: 100, linger_ms: 0 },
        processors: [
          { type: 'aggregate', window_ms: WINDOW, idle_grace_ms: 1500, functions: ['count', 'sum'] },
        ],
      },
    },
  });
}

function records(dir: string): ReadingRecord[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as ReadingRecord),
    );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a window rebuilt partly after a restart is not sent again (the resume point), whatever the sink keeps', async () => {
  const dataDir = tempDir();
  const out1 = join(dataDir, 'out1');
  const out2 = join(dataDir, 'out2');
  // Start early in a window, so that the readings below fall where intended.
  await until(() => Date.now() % WINDOW > 50 && Date.now() % WINDOW < 300, {
    what: 'early in a window',
    timeoutMs: 2000,
  });
  const end = Math.floor(Date.now() / WINDOW) * WINDOW + WINDOW;
  const at = (device: string, ts: number, value: number): Reading => ({
    device,
    metric: 'temperature',
    value,
    ts,
    source: 'test',
  });

  const gw1 = await Gateway.start(config(dataDir, out1));
  const q = gw1.queue;
  const a1 = (await q.append([at('a', Date.now(), 1)])).firstSeq; // a's window [end - 1 s, end)
  const h1 = (await q.append([at('h', end + 10, 1)])).firstSeq; // h's window [end, end + 1 s): open
  await q.append([at('a', Date.now(), 2)]); // a's second input, after h's first in the queue
  await sleep(end + 5 - Date.now());
  await q.append([at('t', Date.now(), 1)]); // arrives after end: a's window closes
  await q.append([at('h', end + 20, 1)]); // h's window now ends above a's: a's is sent
  // a's window is committed; the cursor stays below h's first input, inside a's inputs.
  await until(() => records(out1).length === 1, { what: "a's window written", timeoutMs: 5000 });
  await until(() => q.cursorStats('agg').acked === a1, {
    what: 'the cursor acked through a1, held by h1',
    state: () => q.cursorStats('agg'),
  });
  expect(h1).toBe(a1 + 1);
  await gw1.stop(); // open windows are not flushed on stop: as after a crash, they are read again
  expect(records(out1).map((r) => [r.device, r.value])).toEqual([['a', { count: 2, sum: 3 }]]);

  const gw2 = await Gateway.start(config(dataDir, out2));
  try {
    await until(() => gw2.queue.cursorStats('agg').lag === 0, {
      what: 'the second run drained (the idle flush emits the open windows)',
      timeoutMs: 15_000,
      state: () => gw2.queue.cursorStats('agg'),
    });
  } finally {
    await gw2.stop();
  }
  const second = records(out2);
  // a's window, rebuilt from its second input only, is not sent again; h's and t's are sent once.
  expect(second.map((r) => [r.device, r.value]).sort()).toEqual([
    ['h', { count: 2, sum: 2 }],
    ['t', { count: 1, sum: 1 }],
  ]);
}, 60_000);
