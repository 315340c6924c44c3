// A process killed with SIGKILL at any moment loses nothing whose append had resolved, and the store opens.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { Queue } from '../../gateway/queue/queue.js';
import { tempDir } from '../helpers/tmp.js';

const child = fileURLToPath(new URL('../fixtures/append-child.mjs', import.meta.url));
const ROUNDS = 25;

function runAndKill(dir: string, round: number, killAfterMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // Alternate rounds commit on the event loop and in LMDB's write thread: both must keep the promise.
    const mode = round % 2 === 0 ? 'inline' : 'background';
    const p = spawn(process.execPath, [child, dir, String(round), mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      if (out === '' && d.startsWith('ready')) setTimeout(() => p.kill('SIGKILL'), killAfterMs);
      out += d;
    });
    p.on('error', reject);
    p.on('exit', (_code, signal) =>
      signal === 'SIGKILL'
        ? resolve(out)
        : reject(new Error(`child exited without SIGKILL: ${out.slice(-500)}`)),
    );
  });
}

test(`SIGKILL mid-append, ${ROUNDS} rounds: every resolved append is on disk, in order, with its content`, async () => {
  const dir = tempDir();
  const acknowledged = new Map<number, string>();
  let lastSeqSeen = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const out = await runAndKill(dir, round, 20 + Math.floor(Math.random() * 200));
    // The last line may be cut by the kill: only complete lines were printed after their append resolved.
    const lines = out.split('\n').slice(1, -1);
    for (const line of lines) {
      const [seq, device, metric, value] = line.split(' ');
      acknowledged.set(Number(seq), `${device} ${metric} ${value}`);
    }
    const q = Queue.open({ dir, maxBytes: 1024 ** 3, onFull: 'drop_oldest' });
    const stats = q.stats();
    expect(stats.lastSeq).toBeGreaterThanOrEqual(lastSeqSeen); // sequence never goes backwards
    lastSeqSeen = stats.lastSeq;
    await q.close();
  }
  expect(acknowledged.size).toBeGreaterThan(ROUNDS * 10);
  const q = Queue.open({ dir, maxBytes: 1024 ** 3, onFull: 'drop_oldest' });
  const stored = new Map<number, string>();
  for (let after = 0; ;) {
    const batch = q.readSized(after, 10_000).readings;
    if (batch.length === 0) break;
    for (const r of batch) stored.set(r.seq, `${r.device} ${r.metric} ${JSON.stringify(r.value)}`);
    after = batch[batch.length - 1]!.seq;
  }
  const missing = [...acknowledged].filter(([seq, v]) => stored.get(seq) !== v);
  expect(missing).toEqual([]);
  // sequences are contiguous: no holes from killed commits
  const seqs = [...stored.keys()];
  expect(seqs[seqs.length - 1]! - seqs[0]! + 1).toBe(seqs.length);
  await q.close();
}, 120_000);
