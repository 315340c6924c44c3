import { describe, expect, test } from 'vitest';
import { Queue } from '../../gateway/queue/queue.js';
import { encodeEntry } from '../../gateway/queue/codec.js';
import { reading, readings } from '../helpers/readings.js';
import { tempDir } from '../helpers/tmp.js';

const big = 1024 ** 3;
// Every behaviour holds whichever way a commit waits for its fsync.
describe.each(['inline', 'background'] as const)('commit_mode %s', (commitMode) => {
  const open = (dir = tempDir(), over: Partial<Parameters<typeof Queue.open>[0]> = {}): Queue =>
    Queue.open({ dir, maxBytes: big, onFull: 'drop_oldest', commitMode, ...over });

  describe('append', () => {
    test('assigns contiguous increasing sequence numbers and reads them back in order', async () => {
      const q = open();
      const a = await q.append(readings(3));
      const b = await q.append(readings(2, 3));
      expect(a).toMatchObject({ firstSeq: 1, lastSeq: 3 });
      expect(b).toMatchObject({ firstSeq: 4, lastSeq: 5 });
      const back = q.readSized(0, 100).readings;
      expect(back.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(back[3]).toEqual({ ...reading(3), seq: 4 });
      await q.close();
    });

    test('keeps every value type: number, string, boolean, object, tags and no unit', async () => {
      const q = open();
      const values = [1.5, 'open', true, { lat: 52.1, lon: -4.2 }];
      await q.append(
        values.map((value, i) => ({
          device: 'd',
          metric: `m${i}`,
          value,
          ts: i,
          source: 's',
          tags: { site: 'x' },
        })),
      );
      expect(q.readSized(0, 10).readings.map((r) => r.value)).toEqual(values);
      expect(q.readSized(0, 1).readings[0]).not.toHaveProperty('unit');
      expect(q.readSized(0, 1).readings[0]?.tags).toEqual({ site: 'x' });
      await q.close();
    });

    test('many concurrent appends share commits (group commit)', async () => {
      const q = open();
      const before = q.stats().commits;
      const results = await Promise.all(Array.from({ length: 500 }, (_, i) => q.append([reading(i)])));
      const commits = q.stats().commits - before;
      expect(new Set(results.map((r) => r.firstSeq)).size).toBe(500);
      expect(commits).toBeGreaterThan(0);
      expect(commits).toBeLessThan(50); // far fewer commits than appends
      await q.close();
    });

    test('wakes readers with the durable last sequence after a round with appends, not after acks or refusals', async () => {
      const q = open(tempDir(), { maxBytes: encodeEntry(reading(0), Date.now()).length * 3 });
      await q.openCursor('a', 'oldest');
      const woken: number[] = [];
      q.on('append', (lastSeq) => {
        // emitted once the appends resolved, and what it names is readable
        woken.push(lastSeq);
        expect(q.lastSeq).toBe(lastSeq);
      });
      const { lastSeq } = await q.append(readings(2));
      expect(woken).toEqual([lastSeq]);
      await q.ack('a', lastSeq);
      await q.openCursor('b');
      await expect(q.append(readings(10))).rejects.toMatchObject({ code: 'SLUICE_READING_TOO_LARGE' });
      expect(woken).toEqual([lastSeq]);
      await q.close();
    });

    test('refuses an empty append and a closed queue with codes', async () => {
      const q = open();
      await expect(q.append([])).rejects.toMatchObject({ code: 'SLUICE_READING_INVALID' });
      await q.close();
      await expect(q.append(readings(1))).rejects.toMatchObject({
        code: 'SLUICE_QUEUE_CLOSED',
        retriable: true,
      });
    });
  });

  describe('cursors', () => {
    test('readSized respects maxCount and maxBytes, always returns at least one entry, and sizes what it read', async () => {
      const q = open();
      const appended = await q.append(readings(10));
      expect(q.readSized(0, 4).readings).toHaveLength(4);
      expect(q.readSized(4, 100).readings.map((r) => r.seq)).toEqual([5, 6, 7, 8, 9, 10]);
      expect(q.readSized(0, 100, 1).readings).toHaveLength(1);
      const oneSize = encodeEntry(reading(0), 0).length;
      expect(q.readSized(0, 100, oneSize * 3 + 1).readings.length).toBeGreaterThanOrEqual(2);
      // the encoded bytes behind the sinks' received-bytes metric: those the append stored
      expect(q.readSized(0, 100).bytes).toBe(appended.bytes);
      expect(q.readSized(10, 100)).toEqual({ readings: [], bytes: 0 });
      await q.close();
    });

    test('a cursor reads from its acknowledged position on, as a sink runner does', async () => {
      const q = open();
      await q.openCursor('sink', 'oldest');
      await q.append(readings(6));
      const first = q.readSized(q.cursorPosition('sink'), 4).readings;
      expect(first.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
      await q.ack('sink', first[first.length - 1]!.seq);
      expect(q.readSized(q.cursorPosition('sink'), 4).readings.map((r) => r.seq)).toEqual([5, 6]);
      await q.close();
    });

    test('a new cursor starts at the tail by default, or at the oldest retained entry', async () => {
      const q = open();
      await q.append(readings(5));
      expect((await q.openCursor('tail')).acked).toBe(5);
      expect((await q.openCursor('old', 'oldest')).acked).toBe(0);
      expect(q.cursorStats('old').lag).toBe(5);
      expect(q.cursorStats('tail').lag).toBe(0);
      // re-opening keeps the position
      expect((await q.openCursor('tail', 'oldest')).acked).toBe(5);
      await q.close();
    });

    test('entries are removed only after every cursor has acknowledged them', async () => {
      const q = open();
      await q.openCursor('kafka');
      await q.openCursor('hdfs');
      await q.append(readings(10));
      await q.ack('kafka', 10);
      expect(q.stats().depth).toBe(10);
      await q.ack('hdfs', 4);
      expect(q.stats()).toMatchObject({ depth: 6, firstSeq: 5 });
      expect(q.readSized(0, 100).readings[0]?.seq).toBe(5);
      await q.ack('hdfs', 10);
      expect(q.stats()).toMatchObject({ depth: 0, bytes: 0 });
      await q.close();
    });

    test('ack is idempotent, never moves backwards, and refuses unknown cursors and future sequences', async () => {
      const q = open();
      await q.openCursor('a');
      await q.append(readings(5));
      await q.ack('a', 3);
      await q.ack('a', 2);
      expect(q.cursorPosition('a')).toBe(3);
      await expect(q.ack('nope', 1)).rejects.toMatchObject({ code: 'SLUICE_CURSOR_UNKNOWN' });
      await expect(q.ack('a', 99)).rejects.toMatchObject({ code: 'SLUICE_INTERNAL' });
      await q.close();
    });

    test('removing a cursor lets the entries it held be trimmed', async () => {
      const q = open();
      await q.openCursor('a');
      await q.openCursor('gone');
      await q.append(readings(4));
      await q.ack('a', 4);
      expect(q.stats().depth).toBe(4);
      expect(await q.removeCursor('gone')).toBe(true);
      await q.append(readings(1)); // any later commit trims
      expect(q.stats().depth).toBe(1);
      await q.close();
    });

    test('stats report lag and the age of the oldest unacknowledged reading', async () => {
      const q = open();
      await q.openCursor('a');
      await q.append(readings(3));
      await new Promise((r) => setTimeout(r, 30));
      const c = q.cursorStats('a');
      expect(c.lag).toBe(3);
      expect(c.oldestUnackedAgeMs).toBeGreaterThanOrEqual(25);
      await q.ack('a', 3);
      expect(q.cursorStats('a').oldestUnackedAgeMs).toBeNull();
      await q.close();
    });

    test('dead letters are parked with the ack, with their reading and reason', async () => {
      const q = open();
      await q.openCursor('k');
      await q.append(readings(3));
      await q.ack('k', 3, [{ seq: 2, code: 'SLUICE_SINK_REJECTED', message: 'MESSAGE_TOO_LARGE' }]);
      const dead = q.deadLetters('k');
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ seq: 2, code: 'SLUICE_SINK_REJECTED', reading: reading(1) });
      expect(q.stats().deadLetters).toBe(1);
      await q.close();
    });

    test('trims a large acknowledged backlog in chunks', async () => {
      const q = open();
      await q.openCursor('a');
      for (let i = 0; i < 5; i++) await q.append(readings(10_000, i * 10_000));
      await q.ack('a', 50_000);
      while (q.stats().depth > 0) await q.append(readings(1)).then((r) => q.ack('a', r.lastSeq));
      expect(q.stats()).toMatchObject({ depth: 0, bytes: 0 });
      await q.close();
    });
  });

  describe('restart', () => {
    test('sequence numbers, cursors, bytes and drops survive close and reopen', async () => {
      const dir = tempDir();
      let q = open(dir);
      await q.openCursor('a');
      await q.append(readings(7));
      await q.ack('a', 3);
      const before = q.stats();
      await q.close();
      q = open(dir);
      const after = q.stats();
      expect(after).toMatchObject({ depth: before.depth, bytes: before.bytes, lastSeq: 7, firstSeq: 4 });
      expect(q.cursorPosition('a')).toBe(3);
      expect((await q.append(readings(1))).firstSeq).toBe(8);
      await q.close();
    });
  });

  describe('max_bytes', () => {
    // Same-sized readings, so that exact counts follow from sizes.
    const same = (i: number): ReturnType<typeof reading> => reading(0, { ts: 1_700_000_000_000 + i });
    const size = encodeEntry(same(0), Date.now()).length;

    test('drop_oldest drops exactly the overflow and counts it per cursor', async () => {
      const q = open(tempDir(), { maxBytes: size * 10, onFull: 'drop_oldest' });
      await q.openCursor('behind', 'oldest');
      await q.openCursor('caught-up');
      for (let i = 0; i < 15; i++) {
        const r = await q.append([same(i)]);
        await q.ack('caught-up', r.lastSeq);
      }
      const s = q.stats();
      expect(s.depth).toBe(10);
      expect(s.dropped).toBe(5);
      expect(s.firstSeq).toBe(6);
      expect(s.bytes).toBeLessThanOrEqual(size * 10);
      expect(q.cursorStats('behind')).toMatchObject({ dropped: 5, lag: 10 });
      expect(q.cursorStats('caught-up').dropped).toBe(0);
      expect(q.readSized(0, 100).readings.map((r) => r.seq)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      await q.close();
    });

    test('reject_new refuses appends that do not fit, with a retriable SLUICE_QUEUE_FULL, and keeps the rest', async () => {
      const q = open(tempDir(), { maxBytes: size * 10, onFull: 'reject_new' });
      await q.openCursor('a', 'oldest');
      const results = await Promise.allSettled(Array.from({ length: 15 }, (_, i) => q.append([same(i)])));
      const ok = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ok).toHaveLength(10);
      expect(refused).toHaveLength(5);
      expect(refused[0]?.reason).toMatchObject({ code: 'SLUICE_QUEUE_FULL', retriable: true });
      expect(q.stats()).toMatchObject({ depth: 10, dropped: 0, rejected: 5 });
      // once the sink catches up there is room again
      await q.ack('a', 10);
      await expect(q.append([same(99)])).resolves.toMatchObject({ firstSeq: 11 });
      await q.close();
    });

    test('a single append larger than max_bytes is refused as too large, never dropping others', async () => {
      const q = open(tempDir(), { maxBytes: size * 2, onFull: 'drop_oldest' });
      await q.append([same(0)]);
      await expect(q.append([same(1), same(2), same(3)])).rejects.toMatchObject({
        code: 'SLUICE_READING_TOO_LARGE',
      });
      expect(q.stats()).toMatchObject({ depth: 1, dropped: 0 });
      await q.close();
    });

    test('the LMDB map grows beyond its initial size instead of failing with MDB_MAP_FULL', async () => {
      // max_bytes 16 MiB -> initial map 64 MiB; write ~100 MiB of payload with no cursor trimming it.
      const q = open(tempDir(), { maxBytes: 200 * 1024 * 1024 });
      const blob = 'x'.repeat(4000);
      for (let i = 0; i < 25; i++)
        await q.append(Array.from({ length: 1000 }, (_, k) => reading(k, { value: blob })));
      expect(q.stats().depth).toBe(25_000);
      expect(q.stats().bytes).toBeGreaterThan(100 * 1000 * 1000);
      await q.close();
    });
  });
});

test('inline: an append waits for the end of the turn, a gathered one (and all before it) commits at once', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: big, onFull: 'drop_oldest', commitMode: 'inline' });
  await q.openCursor('c'); // the first commit of a store is not what is measured
  let turnEnded = false;
  setImmediate(() => (turnEnded = true));
  await q.append([reading(0)]);
  expect(turnEnded).toBe(true);

  turnEnded = false;
  setImmediate(() => (turnEnded = true));
  const before = q.stats().commits;
  const plain = q.append([reading(1)]);
  const gathered = q.append([reading(2)], { gathered: true });
  await Promise.all([plain, gathered]);
  expect(turnEnded).toBe(false);
  expect(q.stats().commits - before).toBe(1);
  await q.close();
});
