// The floor under every durable acknowledgement: how long one fdatasync of a 4 KiB page takes on the disk
// holding the data directory. A durable queue can acknowledge at most (readings in flight) / (commit
// latency), and an LMDB commit syncs twice (data pages, then the meta page).
// Run: node test/bench/fsync-latency.mjs [dir] [iterations] (an empty dir: the system's temp directory)
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { figure, record } from './results.mjs';

const dir = mkdtempSync(join(process.argv[2] || tmpdir(), 'sluice-fsync-'));
const n = Number(process.argv[3] ?? 300);
const fd = openSync(join(dir, 'probe'), 'w');
const page = Buffer.alloc(4096, 1);
const samples = [];
for (let i = 0; i < n; i++) {
  writeSync(fd, page, 0, page.length, (i % 64) * page.length);
  const t = process.hrtime.bigint();
  fdatasyncSync(fd);
  samples.push(Number(process.hrtime.bigint() - t) / 1e6);
}
closeSync(fd);
rmSync(dir, { recursive: true, force: true });
samples.sort((a, b) => a - b);
const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))].toFixed(2);
console.log(`fdatasync of 4 KiB, ${n} times: p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms`);
console.log(
  `=> at most ~${Math.round(1000 / (2 * Number(q(0.5))))} LMDB commits/s (two syncs each) on this disk`,
);
record('fsync-latency', {
  figures: [
    figure('p50', 'fdatasync 4 KiB p50', Number(q(0.5)), 'ms'),
    figure('p90', 'fdatasync 4 KiB p90', Number(q(0.9)), 'ms'),
    figure('p99', 'fdatasync 4 KiB p99', Number(q(0.99)), 'ms'),
    figure('commits', 'LMDB commits/s at most (two syncs each)', 1000 / (2 * Number(q(0.5))), 'commits/s'),
  ],
  params: { iterations: n, dir: process.argv[2] || tmpdir() },
  notes: ['percentiles of one series of syncs, not medians of runs'],
});
