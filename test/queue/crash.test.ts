// A process killed with SIGKILL at any moment loses nothing whose append had resolved, and the store opens.
import { expect, test } from 'vitest';
import { Queue } from '../../gateway/queue/queue.js';
import { runAppendChildAndKill } from '../helpers/append-child.js';
import { tempDir } from '../helpers/tmp.js';

const ROUNDS = 25;

function runAndKill(dir: string, round: number, killAfterMs: number): Promise<string> {
  // Alternate rounds commit on the event loop and in LMDB's write thread: both must keep the promise.
  const mode = round % 2 === 0 ? 'inline' : 'background';
  return runAppendChildAndKill([dir, String(round), mode], killAfterMs);
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
