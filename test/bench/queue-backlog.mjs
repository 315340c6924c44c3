// A large backlog lives on disk, not in the heap: fill the queue with N readings (default 10 million,
// appended without fsync to save time; durability is not what is measured here), then stream all of them
// through a cursor in batches, printing heap and RSS as it goes.
// Run: npm run build && node --expose-gc test/bench/queue-backlog.mjs [count]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from '../../dist/gateway/queue/queue.js';

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

const chunk = 10_000;
let t = Date.now();
for (let i = 0; i < total; i += chunk) {
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
  if (seen % 1_000_000 < 5_000) {
    const line = mem();
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    console.log(`  read ${seen.toLocaleString('en-US')}: ${line}`);
  }
}
console.log(
  `streamed ${seen.toLocaleString('en-US')} readings in ${((Date.now() - t) / 1000).toFixed(1)} s (${Math.round(seen / ((Date.now() - t) / 1000)).toLocaleString('en-US')}/s); peak heap sampled ${mb(peakHeap)}`,
);
await q.close();
rmSync(dir, { recursive: true, force: true });
