// Durable append throughput of the LMDB queue at 1, 10 and 100 concurrent producers, against the same queue
// with noSync (no fsync) as the ceiling, same load. Each producer appends one reading per call and keeps
// `window` calls in flight: window 1 is a strictly sequential publisher; window 10 is an MQTT client with
// 10 QoS1 messages in flight (mosquitto's default max_inflight_messages is 20); window 100 is a serial or
// simulator source appending in bursts. Durable throughput is bounded by in-flight readings / fsync latency.
// Run: npm run build && node test/bench/queue-append.mjs [seconds-per-case]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from '../../dist/gateway/queue/queue.js';
import { figure, goal, record } from './results.mjs';

const seconds = Number(process.argv[2] ?? 3);
const reading = (i) => ({
  device: `dev-${i % 50}`,
  metric: 'temperature',
  value: 20 + (i % 100) / 10,
  unit: 'C',
  ts: Date.now(),
  source: 'bench',
});

async function run(producers, noSync, window) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const q = Queue.open({ dir, maxBytes: 4 * 1024 ** 3, onFull: 'drop_oldest', noSync });
  await q.openCursor('bench');
  const end = Date.now() + seconds * 1000;
  let appended = 0;
  const started = process.hrtime.bigint();
  const commits0 = q.stats().commits;
  await Promise.all(
    Array.from({ length: producers * window }, async (_, p) => {
      let i = p;
      while (Date.now() < end) {
        await q.append([reading(i)]);
        i += producers * window;
        appended++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const commits = q.stats().commits - commits0;
  await q.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    rate: appended / elapsed,
    commitsPerS: commits / elapsed,
    perCommit: appended / Math.max(1, commits),
  };
}

const rows = [];
for (const window of [1, 10, 100]) {
  for (const producers of [1, 10, 100]) {
    const durable = await run(producers, false, window);
    const ceiling = await run(producers, true, window);
    rows.push({ window, producers, durable, ceiling });
  }
}
const f = (n) => Math.round(n).toLocaleString('en-US');
console.log(`queue append, ${seconds}s per case, one reading per append call, node ${process.version}`);
console.log(
  'window | producers | durable readings/s | commits/s | readings/commit | noSync readings/s | durable/noSync',
);
for (const { window, producers, durable, ceiling } of rows) {
  console.log(
    `${String(window).padStart(6)} | ${String(producers).padStart(9)} | ${f(durable.rate).padStart(18)} | ${f(durable.commitsPerS).padStart(9)} | ${durable.perCommit.toFixed(1).padStart(15)} | ${f(ceiling.rate).padStart(17)} | ${(durable.rate / ceiling.rate).toFixed(2).padStart(14)}`,
  );
}
const goals = [];
for (const window of [1, 10, 100]) {
  const r = rows.find((x) => x.producers === 100 && x.window === window);
  goals.push(
    goal(
      `window ${window}: durable at 100 producers >= 0.70x noSync`,
      r.durable.rate / r.ceiling.rate,
      '>=',
      0.7,
    ),
  );
}
record('queue-append', {
  figures: rows.flatMap(({ window, producers, durable, ceiling }) => [
    figure(
      `w${window}.p${producers}.durable`,
      `window ${window}, ${producers} producers: durable`,
      durable.rate,
      'readings/s',
    ),
    figure(
      `w${window}.p${producers}.nosync`,
      `window ${window}, ${producers} producers: noSync`,
      ceiling.rate,
      'readings/s',
    ),
  ]),
  goals,
  params: { seconds },
  notes: ['one run per case'],
});
