// The commit loop on its own, with a store and a database that fail on demand: what the callers of a failed
// round are told, and which refusals the store counts.
import { expect, test } from 'vitest';
import { CommitLoop, type CommitStore } from '../../gateway/queue/commit-loop.js';
import type { AppendOp, Op, Outcome } from '../../gateway/queue/ops.js';
import { SluiceError } from '../../gateway/errors.js';

function append(bytes: number): { op: AppendOp; settled: Promise<unknown> } {
  let op!: AppendOp;
  const settled = new Promise<unknown>((resolve) => {
    op = {
      kind: 'append',
      entries: [Buffer.alloc(bytes)],
      bytes,
      resolve: () => resolve('stored'),
      reject: (err) => resolve(err),
    };
  });
  return { op, settled };
}

test('a round whose commit fails: an op the round refused keeps its own error and is not counted again', async () => {
  const failedWith: Op[][] = [];
  const store: CommitStore<undefined> = {
    settings: () => ({ commitMode: 'inline', noSync: true }),
    snapshot: () => undefined,
    restore: () => undefined,
    // The second append is too large: refused (and counted) by the ops themselves; the first is fine.
    apply: (ops): Outcome[] =>
      ops.map((op) =>
        op.kind === 'append' && op.bytes > 100
          ? { ok: false, error: new SluiceError('SLUICE_READING_TOO_LARGE', 'too large (test)') }
          : { ok: true, resolve: () => op.resolve(undefined as never) },
      ),
    failure: (ops) => {
      failedWith.push([...ops]);
      return new SluiceError('SLUICE_QUEUE_FULL', 'the disk is full (test)');
    },
    committedSeq: () => 0,
    durable: () => undefined,
    hasDeferredWork: () => false,
    mustCommitInline: () => true,
  };
  // LMDB's commit fails after the ops ran (ENOSPC writing the pages).
  const db = {
    transactionSync: (body: () => void) => {
      body();
      throw new Error('MDB_DISKFULL (test)');
    },
    transaction: () => Promise.reject(new Error('not used')),
    flushed: Promise.resolve(true),
  } as unknown as ConstructorParameters<typeof CommitLoop<undefined>>[0];
  const loop = new CommitLoop(db, store, () => undefined);
  const small = append(10);
  const large = append(1_000);
  loop.submit(small.op);
  loop.submit(large.op, true);
  const [a, b] = await Promise.all([small.settled, large.settled]);
  expect((a as SluiceError).code).toBe('SLUICE_QUEUE_FULL');
  expect((b as SluiceError).code).toBe('SLUICE_READING_TOO_LARGE');
  // Only the op the round had not decided is the failure's to count.
  expect(failedWith).toEqual([[small.op]]);
});
