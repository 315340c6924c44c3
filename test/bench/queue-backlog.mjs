// A large backlog lives on disk, not in the heap: fill the queue with N readings (default 10 million,
// appended without fsync to save time; durability is not what is measured here), then stream all of them
// through a cursor in batches, printing heap and RSS as it goes. Records memory against the backlog (readings
// in the queue while filling, readings still unread while streaming) for the runner's backlog-vs-RSS chart.
// Run: npm run build && node --expose-gc test/bench/queue-backlog.mjs [count]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from '../../dist/gateway/queue/queue.js';
import { figure, record } from './results.mjs';

const total = Number(process.argv[2] ?? 10_000_000);
const dir = mkdtempSync(join(tmpdir(), 'sluice-backlog-'));
const q = Queue.open({ dir, maxBytes: 8 * 1024 ** 3, onFull: 'reject_new', noSync: true });
await q.openCursor('slow', 'oldest');
const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
// RSS includes the pages of the memory-mapped LMDB file the reads touched: clean, file-backed, reclaimable
// by the kernel. RssAnon is the process's own memory; that is what must stay flat.
const rssParts = () => {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    return `, rss anon ${mb(kb('RssAnon'))}, rss file-mapped ${mb(kb('RssFile'))}`;
  } catch {
    return ''; // not Linux: no /proc breakdown
  }
};
const mem = () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return `heap ${mb(m.heapUsed)}, rss ${mb(m.rss)}${rssParts()}`;
};
/** Heap, RSS and RSS anon in MiB (RSS anon NaN off Linux), after a gc where --expose-gc allows. */
const memMiB = () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  let anon = Number.NaN;
  try {
    anon = Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
  } catch {
    anon = Number.NaN; // not Linux: no /proc breakdown
  }
  return { heap: m.heapUsed / 2 ** 20, rss: m.rss / 2 ** 20, anon };
};
const series = {};
/** One point of each memory series at `backlog` readings; `phase` is fill or drain. */
const sample = (backlog, phase) => {
  const m = memMiB();
  for (const [k, v] of [
    ['rss', m.rss],
    ['rss anon', m.anon],
    ['heap', m.heap],
  ])
    if (Number.isFinite(v)) (series[`backlog:${k} (${phase})`] ??= []).push({ x: backlog, y: v });
  return m;
};

const chunk = 10_000;
const every = Math.max(chunk, Math.ceil(total / 10 / chunk) * chunk);
let t = Date.now();
sample(0, 'fill');
for (let i = 0; i < total; i += chunk) {
  if (i > 0 && i % every === 0) sample(i, 'fill');
  const n = Math.min(chunk, total - i);
  await q.append(
    Array.from({ length: n }, (_, k) => ({
      device: `dev-${(i + k) % 100}`,
      metric: 'temperature',
      value: 21.5,
      unit: 'C',
      ts: 1_763_700_000_000 + i + k,
      source: 'bench',
    })),
  );
}
const fillSeconds = (Date.now() - t) / 1000;
const filled = sample(total, 'fill');
console.log(
  `filled ${total.toLocaleString('en-US')} readings in ${((Date.now() - t) / 1000).toFixed(1)} s; queue ${mb(q.stats().bytes)} encoded; ${mem()}`,
);

t = Date.now();
let after = 0;
let seen = 0;
let peakHeap = 0;
for (;;) {
  const batch = q.readSized(after, 5_000).readings;
  if (batch.length === 0) break;
  seen += batch.length;
  after = batch[batch.length - 1].seq;
  if (seen % every < 5_000 && seen < total) sample(total - seen, 'drain');
  if (seen % 1_000_000 < 5_000) {
    const line = mem();
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    console.log(`  read ${seen.toLocaleString('en-US')}: ${line}`);
  }
}
const streamSeconds = (Date.now() - t) / 1000;
const drained = sample(0, 'drain');
peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
console.log(
  `streamed ${seen.toLocaleString('en-US')} readings in ${((Date.now() - t) / 1000).toFixed(1)} s (${Math.round(seen / ((Date.now() - t) / 1000)).toLocaleString('en-US')}/s); peak heap sampled ${mb(peakHeap)}`,
);
await q.close();
rmSync(dir, { recursive: true, force: true });
const maxOf = (name) => Math.max(...(series[name] ?? []).map((p) => p.y));
record('queue-backlog', {
  figures: [
    figure('fill_rate', 'fill (append without fsync)', total / fillSeconds, 'readings/s'),
    figure('stream_rate', 'stream through a cursor', seen / streamSeconds, 'readings/s'),
    figure('rss_anon_filled', 'RSS anon with the whole backlog queued', filled.anon, 'MiB'),
    figure(
      'rss_anon_max',
      'RSS anon, highest sample (fill and drain)',
      Math.max(maxOf('backlog:rss anon (fill)'), maxOf('backlog:rss anon (drain)')),
      'MiB',
    ),
    figure('rss_drained', 'RSS after streaming all (incl. file-mapped pages)', drained.rss, 'MiB'),
    figure('heap_peak', 'peak heap sampled while streaming', peakHeap / 2 ** 20, 'MiB'),
  ],
  series,
  params: { readings: total, gc: typeof globalThis.gc === 'function' },
  notes: ['one run; RSS includes clean file-mapped LMDB pages, RSS anon is the process own memory'],
});
