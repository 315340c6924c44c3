// The ingest batcher both the MQTT broker (`turn`, parts split on refusal) and serial (`idle`, chunks, a
// cap) use: what goes into each append, and who is told what when one fails.
import { describe, expect, test } from 'vitest';
import type { AppendOptions, IngestResult } from '../../gateway/components.js';
import { SluiceError } from '../../gateway/errors.js';
import type { Reading } from '../../gateway/reading.js';
import {
  IngestBatcher,
  type BatchReport,
  type IngestBatcherOptions,
} from '../../gateway/sources/ingest-batcher.js';
import { readings } from '../helpers/readings.js';

interface Call {
  readonly values: unknown[];
  readonly options: AppendOptions | undefined;
}

/** A queue stand-in that records every append and refuses what `refuse` says (only the batcher is tested). */
function harness(
  options: IngestBatcherOptions,
  refuse: (rs: readonly Reading[]) => Error | undefined = () => undefined,
) {
  const calls: Call[] = [];
  const events: string[] = [];
  const report: BatchReport = {
    appended: (n) => events.push(`appended ${n}`),
    failed: (n, err, from) => events.push(`failed ${n} ${err.code} ${from ?? '-'}`),
    overflowed: (n) => events.push(`overflowed ${n}`),
  };
  const batcher = new IngestBatcher(
    (rs, o) => {
      calls.push({ values: rs.map((r) => r.value), options: o });
      const cause = refuse(rs);
      if (cause !== undefined) return Promise.reject(cause);
      return Promise.resolve<IngestResult>({ firstSeq: 1, lastSeq: rs.length, bytes: 10 * rs.length });
    },
    options,
    report,
  );
  return { batcher, calls, events };
}

const turn: IngestBatcherOptions = { gather: 'turn', split: { kind: 'parts_on_refusal' } };
const tooLarge = new SluiceError('SLUICE_READING_TOO_LARGE', 'too large', { retriable: false });

describe('ingest batcher', () => {
  test('turn: every add of one event-loop turn goes into one gathered append; each part is told', async () => {
    const { batcher, calls, events } = harness(turn);
    const told: string[] = [];
    batcher.add(readings(2, 0), (err) => told.push(`a ${err?.code ?? 'ok'}`), 'a');
    batcher.add(readings(1, 2), (err) => told.push(`b ${err?.code ?? 'ok'}`), 'b');
    expect(calls).toEqual([]);
    await batcher.drain();
    expect(calls).toEqual([{ values: readings(3).map((r) => r.value), options: { gathered: true } }]);
    expect(events).toEqual(['appended 3']);
    expect(told).toEqual(['a ok', 'b ok']);
  });

  test('turn: a refusal one part may cause is retried part by part, so only that part is refused', async () => {
    const bad = readings(1, 50)[0] as Reading;
    const { batcher, calls, events } = harness(turn, (rs) => (rs.includes(bad) ? tooLarge : undefined));
    const told: string[] = [];
    batcher.add(readings(2, 0), (err) => told.push(`a ${err?.code ?? 'ok'}`), 'a');
    batcher.add([bad], (err) => told.push(`b ${err?.code ?? 'ok'}`), 'b');
    batcher.add(readings(1, 2), (err) => told.push(`c ${err?.code ?? 'ok'}`), 'c');
    await batcher.drain();
    expect(calls.map((c) => c.options)).toEqual([{ gathered: true }, undefined, undefined, undefined]);
    expect(calls.slice(1).map((c) => c.values.length)).toEqual([2, 1, 1]);
    expect(events).toEqual(['appended 2', 'failed 1 SLUICE_READING_TOO_LARGE b', 'appended 1']);
    expect(told).toEqual(['a ok', 'b SLUICE_READING_TOO_LARGE', 'c ok']);
  });

  test('turn: a disk error fails the whole batch once; a non-SluiceError counts as retriable queue I/O', async () => {
    const { batcher, calls, events } = harness(turn, () => new Error('EIO'));
    const told: (SluiceError | undefined)[] = [];
    batcher.add(readings(1, 0), (err) => told.push(err), 'a');
    batcher.add(readings(1, 1), (err) => told.push(err), 'b');
    await batcher.drain();
    expect(calls).toHaveLength(1);
    expect(events).toEqual(['failed 2 SLUICE_QUEUE_IO a']);
    expect(told.map((e) => [e?.code, e?.retriable])).toEqual([
      ['SLUICE_QUEUE_IO', true],
      ['SLUICE_QUEUE_IO', true],
    ]);
  });

  test('idle: appends at once, gathers while that append commits, in chunks, dropping the newest over the cap', async () => {
    const { batcher, calls, events } = harness({
      gather: 'idle',
      split: { kind: 'chunks', maxReadings: 2 },
      maxPending: 5,
    });
    batcher.add(readings(1, 0));
    expect(calls).toHaveLength(1);
    batcher.add(readings(3, 1));
    batcher.add(readings(3, 4));
    expect(events).toEqual(['overflowed 1']);
    expect(batcher.pendingCount).toBe(5);
    expect(batcher.appendingCount).toBe(1);
    await batcher.drain();
    expect(calls.map((c) => [c.values, c.options])).toEqual([
      [[readings(1)[0]?.value], undefined],
      [readings(2, 1).map((r) => r.value), undefined],
      [readings(2, 3).map((r) => r.value), undefined],
      [readings(1, 5).map((r) => r.value), undefined],
    ]);
    expect(events).toEqual(['overflowed 1', 'appended 1', 'appended 2', 'appended 2', 'appended 1']);
    expect(batcher.pendingCount + batcher.appendingCount).toBe(0);
  });

  test('idle: a refused chunk loses only its readings', async () => {
    const full = new SluiceError('SLUICE_QUEUE_FULL', 'full', { retriable: true });
    let n = 0;
    const { batcher, events } = harness({ gather: 'idle', split: { kind: 'chunks', maxReadings: 2 } }, () =>
      n++ === 1 ? full : undefined,
    );
    batcher.add(readings(1));
    batcher.add(readings(4, 1));
    await batcher.drain();
    expect(events).toEqual(['appended 1', 'failed 2 SLUICE_QUEUE_FULL -', 'appended 2']);
  });
});
