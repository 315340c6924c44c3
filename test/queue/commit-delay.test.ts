// queue.commit_delay_ms, the commit linger: ops arriving within it share one commit, none is resolved before
// the commit holding it is durable, 0 commits as before, and a SIGKILL during a linger loses nothing resolved.
import { expect, test } from 'vitest';
import { CommitLoop, type CommitStore } from '../../gateway/queue/commit-loop.js';
import type { AppendOp, Outcome } from '../../gateway/queue/ops.js';
import { Queue, type CommitMode } from '../../gateway/queue/queue.js';
import type { Reading } from '../../gateway/reading.js';
import { SluiceError } from '../../gateway/errors.js';
import { runAppendChildAndKill } from '../helpers/append-child.js';
import { tempDir } from '../helpers/tmp.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A commit loop over a fake database that logs, in order, each commit (with its ops) and each resolve. */
function harness(commitDelayMs: number, commitMode: 'inline' | 'background', commitMs = 0) {
  const events: string[] = [];
  // Each round's ops by its number (committedSeq): a background round may run before the previous is durable.
  const rounds: string[][] = [];
  const store: CommitStore<undefined> = {
    settings: () => ({ commitMode, commitDelayMs, noSync: true }),
    snapshot: () => undefined,
    restore: () => undefined,
    apply: (ops): Outcome[] => {
      rounds.push(ops.map((op) => (op.kind === 'append' ? String(op.entries[0]) : op.kind)));
      return ops.map((op) => ({ ok: true, resolve: () => op.resolve(undefined as never) }));
    },
    failure: () => new SluiceError('SLUICE_QUEUE_IO', 'not expected (test)'),
    committedSeq: () => rounds.length - 1,
    durable: (round) => events.push(`commit ${rounds[round]!.join(',')}`),
    hasDeferredWork: () => false,
    mustCommitInline: () => false,
  };
  const db = {
    transactionSync: (body: () => void) => body(),
    // A background commit that takes `commitMs` (its disk's sync) after running the ops.
    transaction: (body: () => void) =>
      Promise.resolve()
        .then(body)
        .then(() => sleep(commitMs)),
    flushed: Promise.resolve(true),
  } as unknown as ConstructorParameters<typeof CommitLoop<undefined>>[0];
  const loop = new CommitLoop(db, store, () => undefined);
  const submit = (name: string, gathered = false): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const op: AppendOp = {
        kind: 'append',
        entries: [Buffer.from(name)],
        bytes: name.length,
        resolve: () => {
          events.push(`resolve ${name}`);
          resolve();
        },
        reject,
      };
      loop.submit(op, gathered);
    });
  return { loop, events, submit };
}

for (const mode of ['inline', 'background'] as const) {
  test(`${mode}: appends within the linger share one commit, and none resolves before it`, async () => {
    // A long linger (the schema allows at most 20 ms) so that a loaded machine cannot end it early.
    const h = harness(300, mode);
    const a = h.submit('a');
    await sleep(5);
    // `gathered` (the MQTT broker's flag) must not cut the linger short.
    const b = h.submit('b', true);
    await turn();
    const c = h.submit('c');
    await sleep(5);
    expect(h.events).toEqual([]); // still lingering: nothing committed, nothing resolved
    await Promise.all([a, b, c]);
    expect(h.events).toEqual(['commit a,b,c', 'resolve a', 'resolve b', 'resolve c']);
    expect(h.loop.commits).toBe(1);
  });

  test(`${mode}: a linger of 0 commits at once, each commit with what arrived before it`, async () => {
    const h = harness(0, mode);
    const a = h.submit('a');
    const b = h.submit('b');
    await sleep(1);
    const c = h.submit('c');
    await Promise.all([a, b, c]);
    expect(h.events).toEqual(['commit a,b', 'resolve a', 'resolve b', 'commit c', 'resolve c']);
  });
}

test('inline, linger 0: the commit runs in the turn of the append, before any timer', async () => {
  const h = harness(0, 'inline');
  void h.submit('a');
  await turn();
  expect(h.events).toEqual(['commit a', 'resolve a']);
  const lingering = harness(5, 'inline');
  const b = lingering.submit('b');
  await turn();
  expect(lingering.events).toEqual([]);
  await b;
  expect(lingering.events).toEqual(['commit b', 'resolve b']);
});

test('the linger counts from the oldest op: one that waited through a slow commit is not held again', async () => {
  const h = harness(50, 'background', 100);
  const a = h.submit('a');
  await sleep(55); // a's linger is over, its commit takes 100 ms
  const b = h.submit('b'); // waits through a's commit, over 50 ms
  await a;
  const t0 = performance.now();
  await b;
  // b's round starts at once: its commit's 100 ms, not 50 ms more of linger on top (margin for a loaded machine).
  expect(performance.now() - t0).toBeLessThan(130);
  expect(h.events).toEqual(['commit a', 'resolve a', 'commit b', 'resolve b']);
});

test('closing a queue cuts a linger short', async () => {
  const h = harness(20_000, 'inline');
  const a = h.submit('a');
  await turn();
  const t0 = performance.now();
  await h.loop.whenIdle();
  await a;
  expect(performance.now() - t0).toBeLessThan(1_000);
  expect(h.events).toEqual(['commit a', 'resolve a']);
});

const reading = (i: number): Reading => ({
  device: 'd',
  metric: 'm',
  value: i,
  ts: 1_700_000_000_000 + i,
  source: 'test',
});

for (const mode of ['inline', 'background'] satisfies CommitMode[]) {
  test(`${mode}, real LMDB: appends in successive turns share a commit with a linger, not without`, async () => {
    for (const [delay, commits] of [
      [300, 1],
      [0, 3],
    ] as const) {
      const q = Queue.open({
        dir: tempDir(),
        maxBytes: 1024 ** 2,
        onFull: 'drop_oldest',
        commitMode: mode,
        commitDelayMs: delay,
      });
      const before = q.stats().commits;
      const done: Promise<unknown>[] = [];
      for (let i = 0; i < 3; i++) {
        done.push(q.append([reading(i)]));
        // Without a linger an inline round runs in the next turn, a background one whenever LMDB's thread
        // takes it (so each is awaited there); with one, successive turns are all inside it.
        if (mode === 'inline' || delay > 0) await turn();
        else await done[i];
      }
      const results = await Promise.all(done);
      expect(results.map((r) => (r as { firstSeq: number }).firstSeq - q.origin)).toEqual([0, 1, 2]);
      expect(q.stats().commits - before).toBe(commits);
      expect(q.readSized(0, 10).readings.map((r) => r.value)).toEqual([0, 1, 2]);
      await q.close();
    }
  });
}

const ROUNDS = 12;

function runAndKill(dir: string, round: number, killAfterMs: number): Promise<string> {
  const mode = round % 2 === 0 ? 'inline' : 'background';
  // Lingers of 5 and 20 ms: with 10 producers a kill lands inside a linger most of the time.
  const delay = round % 4 < 2 ? '20' : '5';
  return runAppendChildAndKill([dir, String(round), mode, delay], killAfterMs);
}

test(`SIGKILL during lingers, ${ROUNDS} rounds: every resolved append is on disk, in order`, async () => {
  const dir = tempDir();
  const acknowledged = new Map<number, string>();
  for (let round = 0; round < ROUNDS; round++) {
    const out = await runAndKill(dir, round, 50 + Math.floor(Math.random() * 200));
    // Only complete lines: each was printed after its append resolved (the kill may cut the last one).
    for (const line of out.split('\n').slice(1, -1)) {
      const [seq, device, metric, value] = line.split(' ');
      acknowledged.set(Number(seq), `${device} ${metric} ${value}`);
    }
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
  expect([...acknowledged].filter(([seq, v]) => stored.get(seq) !== v)).toEqual([]);
  await q.close();
}, 120_000);
