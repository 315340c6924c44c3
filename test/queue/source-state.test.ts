// A source's own durable state (append's `sourceState`) commits in the same transaction as the readings it
// came with: after a reopen, or a SIGKILL at any moment, the state says exactly which readings are stored.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { Queue } from '../../gateway/queue/queue.js';
import type { Reading } from '../../gateway/reading.js';
import { tempDir } from '../helpers/tmp.js';

const child = fileURLToPath(new URL('./source-state-child.mjs', import.meta.url));

function reading(device: string, value: number): Reading {
  return { device, metric: 'm', value, ts: 1, source: 'test' };
}

test('a source state survives a reopen, state-only appends included, and a refused append moves none', async () => {
  const dir = tempDir();
  const q = Queue.open({ dir, maxBytes: 4096, onFull: 'reject_new' });
  expect(q.sourceState('sql/last')).toBeUndefined();
  await q.append([reading('d', 1)], { sourceState: { key: 'sql/last', value: { last: '1' } } });
  const empty = await q.append([], { sourceState: { key: 'sql/last', value: { last: '2' } } });
  expect(empty.lastSeq).toBe(empty.firstSeq - 1); // no reading, no sequence number
  expect(q.sourceState('sql/last')).toEqual({ last: '2' });
  await expect(q.append([])).rejects.toMatchObject({ code: 'SLUICE_READING_INVALID' });
  // Refused by reject_new: the state stays where the last stored readings left it.
  const ten = Array.from({ length: 10 }, (_, i) => reading('d'.repeat(20), i));
  let last = 2;
  let refused: unknown;
  while (refused === undefined) {
    await q.append(ten, { sourceState: { key: 'sql/last', value: { last: String(last + 1) } } }).then(
      () => void last++,
      (err: unknown) => void (refused = err),
    );
  }
  expect(refused).toMatchObject({ code: 'SLUICE_QUEUE_FULL' });
  expect(q.sourceState('sql/last')).toEqual({ last: String(last) });
  const depth = q.stats().depth;
  await q.close();
  const again = Queue.open({ dir, maxBytes: 4096, onFull: 'reject_new' });
  expect(again.sourceState('sql/last')).toEqual({ last: String(last) });
  expect(again.stats().depth).toBe(depth);
  await again.close();
});

function runAndKill(dir: string, round: number, killAfterMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const mode = round % 2 === 0 ? 'inline' : 'background';
    const p = spawn(process.execPath, [child, dir, String(round), mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    p.stdout.setEncoding('utf8');
    p.stdout.once('data', () => setTimeout(() => p.kill('SIGKILL'), killAfterMs));
    p.on('error', reject);
    p.on('exit', (_code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error('child exited without SIGKILL')),
    );
  });
}

const ROUNDS = 16;

test(`SIGKILL during appends with state, ${ROUNDS} rounds: each producer's state names exactly its stored batches`, async () => {
  const dir = tempDir();
  for (let round = 0; round < ROUNDS; round++) {
    await runAndKill(dir, round, 30 + Math.floor(Math.random() * 250));
  }
  const q = Queue.open({ dir, maxBytes: 1024 ** 3, onFull: 'drop_oldest' });
  // Per producer: batch number -> readings stored for it.
  const stored = new Map<string, Map<number, number>>();
  for (let after = 0; ;) {
    const batch = q.readSized(after, 10_000).readings;
    if (batch.length === 0) break;
    for (const r of batch) {
      const byBatch = stored.get(r.device) ?? new Map<number, number>();
      stored.set(r.device, byBatch);
      const b = Number(r.metric.slice(1));
      byBatch.set(b, (byBatch.get(b) ?? 0) + 1);
    }
    after = batch[batch.length - 1]!.seq;
  }
  let batches = 0;
  for (let p = 0; p < 4; p++) {
    const state = q.sourceState(`p${p}`) as { batch: number; n: number } | undefined;
    expect(state).toBeDefined();
    const byBatch = stored.get(`p${p}`) ?? new Map<number, number>();
    // Every batch up to the state is stored whole (once: a batch resumed twice would double its count),
    // none after it: a state ahead of its readings, or readings ahead of their state, fails here.
    for (let b = 1; b <= state!.batch; b++) {
      expect(byBatch.get(b) ?? 0, `p${p} batch ${b}`).toBe((b * 7 + p) % 21);
    }
    expect([...byBatch.keys()].filter((b) => b > state!.batch)).toEqual([]);
    batches += state!.batch;
  }
  expect(batches).toBeGreaterThan(ROUNDS * 4);
  await q.close();
}, 120_000);
