// The source side on a real queue: a reading the chain drops resolves without an append; a failed append
// (a full queue under reject_new) forgets the chain's state, so the device's re-send is stored, not
// dropped as "in band" of a value that never reached the disk.
import { afterEach, expect, test } from 'vitest';
import { chainedIngest } from '../../gateway/processors/source-ingest.js';
import { Queue } from '../../gateway/queue/queue.js';
import { tempDir } from '../helpers/tmp.js';
import { chainOf, r } from './helpers.js';

let queue: Queue | undefined;
afterEach(async () => {
  await queue?.close();
  queue = undefined;
});

test('a dropped reading is handled without an append; a failed append resets the state for the re-send', async () => {
  queue = Queue.open({ dir: tempDir('sluice-proc-q-'), maxBytes: 64 * 1024, onFull: 'reject_new' });
  const q = queue;
  const { chain, counts } = chainOf([{ type: 'deadband', band: 1 }]);
  let dropped = 0;
  const ingest = chainedIngest(
    chain,
    (rs, o) => q.append(rs, o),
    () => q.lastSeq,
    (n) => (dropped += n),
  );
  const first = await ingest([r({ value: 10, ts: 1 })]);
  expect(first.lastSeq - first.firstSeq + 1).toBe(1);
  const none = await ingest([r({ value: 10.5, ts: 2 })]);
  expect(none.lastSeq - none.firstSeq + 1).toBe(0);
  expect(dropped).toBe(1);

  // Fill the queue so that the next append is refused (retriable: the device will re-send it).
  let filled = 0;
  // Large fillers first, then readings as small as the one to refuse, until the queue refuses one.
  for (const value of ['x'.repeat(1024), 0]) {
    for (;;) {
      try {
        await q.append([r({ metric: 'fill', value, ts: 3 })]);
        filled++;
      } catch {
        break;
      }
    }
  }
  expect(filled).toBeGreaterThan(0);
  await expect(ingest([r({ value: 20, ts: 4 })])).rejects.toMatchObject({ code: 'SLUICE_QUEUE_FULL' });
  // Room again: every cursor-less entry up to now is trimmed once a cursor has passed it.
  await q.openCursor('drain', 'oldest');
  await q.ack('drain', q.lastSeq);
  // The re-send of 20 is stored: the deadband forgot the 20 it saw before the refused append.
  const resent = await ingest([r({ value: 20, ts: 5 })]);
  expect(resent.lastSeq - resent.firstSeq + 1).toBe(1);
  expect(q.readSized(resent.firstSeq - 1, 10).readings.map((x) => x.value)).toEqual([20]);
  expect(counts.get('1-deadband')).toMatchObject({ in: 4, out: 3, dropped: { in_band: 1 } });
});

test("a source's own state commits even when the chain drops every reading it came with", async () => {
  queue = Queue.open({ dir: tempDir('sluice-proc-q-'), maxBytes: 64 * 1024, onFull: 'reject_new' });
  const q = queue;
  const { chain } = chainOf([{ type: 'filter', expr: 'false' }]);
  const ingest = chainedIngest(
    chain,
    (rs, o) => q.append(rs, o),
    () => q.lastSeq,
    () => undefined,
  );
  // An SQL import's last value: if it stayed behind, a restart would import (and drop) these rows again.
  const none = await ingest([r({ value: 1, ts: 1 })], { sourceState: { key: 'sql/last', value: 42 } });
  expect(none.lastSeq - none.firstSeq + 1).toBe(0);
  expect(q.sourceState('sql/last')).toBe(42);
});
