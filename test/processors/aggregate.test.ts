// aggregate: each function, lateness by arrival, the idle flush, output in seq order with a stable id, the
// cursor hold (heldFrom and the ledger's firstSeq), bad input per on_error, eviction, the resume point,
// and (fast-check) the same windows for any batching of the same input.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { processorList } from '../../gateway/processors/index.js';
import type { ProcessorContext } from '../../gateway/processors/types.js';
import { SinkLedger } from '../../gateway/processors/sink-ledger.js';
import type { QueuedReading, ReadingValue } from '../../gateway/reading.js';
import { chainOf } from './helpers.js';

const sink: ProcessorContext = { side: 'sink', component: 'hdfs', gatewayId: 'gw1', fleetLabels: [] };
const T0 = 1_700_000_040_000; // a multiple of 60 s
const W = 60_000;

let nextSeq = 1;
/** A queue entry: `ts` and arrival offsets from T0 (arrival defaults to ts). */
function q(
  ts: number,
  value: ReadingValue,
  over: Partial<QueuedReading> & { at?: number } = {},
): QueuedReading {
  const { at, ...rest } = over;
  return {
    device: 'd1',
    metric: 'temperature',
    value,
    unit: 'C',
    ts: T0 + ts,
    source: 'mqtt',
    seq: nextSeq++,
    appendedAt: T0 + (at ?? ts),
    ...rest,
  };
}

function agg(options: Record<string, unknown> = {}) {
  return chainOf([{ type: 'aggregate', window_ms: W, ...options }], sink);
}

const values = (out: readonly QueuedReading[]) => out.map((o) => o.value);

test('every function over one window: mean, min, max, sum, count, first and last by ts, sample stddev', () => {
  const { chain, counts } = agg({
    functions: ['mean', 'min', 'max', 'sum', 'count', 'first', 'last', 'stddev'],
  });
  // In queue order 3, 1, 4, 1, 5; by ts the first is 4 (ts 1000) and the last 3 (ts 50 000).
  const input = [q(50_000, 3), q(2000, 1), q(1000, 4), q(3000, 1), q(4000, 5, { at: 50_001 })];
  expect(chain.run(input).kept).toEqual([]);
  // A reading past the deadline (end + 0 lateness) by arrival closes the window.
  const out = chain.run([q(W + 1, 7)]).kept;
  const xs = [3, 1, 4, 1, 5];
  const mean = 14 / 5;
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / 4);
  expect(out).toHaveLength(1);
  const [w] = out as [QueuedReading];
  expect(w.value).toEqual({
    mean,
    min: 1,
    max: 5,
    sum: 14,
    count: 5,
    first: 4,
    last: 3,
    stddev: expect.closeTo(sd, 12) as number,
  });
  expect(w).toMatchObject({
    id: `gw1:hdfs:d1:temperature:${T0}`,
    device: 'd1',
    metric: 'temperature',
    ts: T0,
    unit: 'C',
    tags: { agg_window_ms: '60000' },
    seq: input[4]?.seq,
    firstSeq: input[0]?.seq,
  });
  expect(counts.get('1-aggregate')).toMatchObject({ in: 6, out: 1, dropped: { held: 6 } });
});

test('stddev is null for a single reading; the default functions are mean, min, max, count', () => {
  const { chain } = agg({ functions: ['stddev', 'count'] });
  chain.run([q(0, 10)]);
  expect(values(chain.run([q(W, 1)]).kept)).toEqual([{ stddev: null, count: 1 }]);
  const d = agg();
  d.chain.run([q(0, 2), q(1, 4)]);
  expect(values(d.chain.run([q(W, 1)]).kept)).toEqual([{ mean: 3, min: 2, max: 4, count: 2 }]);
});

test('allowed_lateness_ms: a reading arriving before end + lateness joins; one arriving after is counted late', () => {
  const { chain, counts } = agg({ allowed_lateness_ms: 10_000, functions: ['count', 'sum'] });
  chain.run([q(1000, 1), q(W + 5000, 2)]); // next window's reading: within the lateness, nothing closes
  chain.run([q(2000, 10, { at: W + 9999 })]); // arrives 9.999 s after the end: joins
  // Arrives at the deadline: late. Its arrival closes the first window, which still waits for the second
  // (open, its last input is older in the queue than the first window's).
  expect(chain.run([q(3000, 100, { at: W + 10_000 })]).kept).toEqual([]);
  expect(counts.get('1-aggregate')?.dropped).toEqual({ held: 3, late: 1 });
  // The late reading is never merged, not even into a window emitted later.
  expect(values(chain.tick<QueuedReading>(T0 + 10 * W))).toEqual([
    { count: 1, sum: 2 },
    { count: 2, sum: 11 },
  ]);
});

test('idle flush: with no newer reading, the tick emits a window once end + lateness + idle_grace_ms has passed', () => {
  const { chain } = agg({ allowed_lateness_ms: 1000, idle_grace_ms: 500, functions: ['count'] });
  chain.run([q(0, 1), q(10, 1, { device: 'd2' })]);
  expect(chain.tick<QueuedReading>(T0 + W + 1499)).toEqual([]);
  const out = chain.tick<QueuedReading>(T0 + W + 1500);
  expect(out.map((o) => o.device)).toEqual(['d1', 'd2']);
  // A reading of a flushed window that comes afterwards is late, never a second window with the same id.
  expect(chain.run([q(20, 1, { at: W + 1400 })]).kept).toEqual([]);
  expect(chain.tick<QueuedReading>(T0 + 100 * W)).toEqual([]);
});

test('windows of several devices reach the sink in seq order; the cursor stays below every held input', () => {
  const { chain } = agg({ allowed_lateness_ms: 30_000, functions: ['count'] });
  const a1 = q(1000, 1, { device: 'a' });
  const b1 = q(2000, 1, { device: 'b' });
  const a2 = q(59_000, 1, { device: 'a' });
  chain.run([a1, b1, a2]);
  expect(chain.heldFrom()).toBe(a1.seq);
  // b's window starts later in ts but in the queue it ends (b1) before a's (a2): b is emitted first.
  const out = chain.tick<QueuedReading>(T0 + W + 40_000);
  expect(out.map((o) => [o.device, o.seq])).toEqual([
    ['b', b1.seq],
    ['a', a2.seq],
  ]);
  expect(chain.heldFrom()).toBeUndefined();

  // A closed window waits while an open one of another device has an older last input.
  const { chain: c2 } = agg({ allowed_lateness_ms: 10_000, functions: ['count'] });
  const o = q(2 * W + 5, 1, { device: 'o' }); // window [2W, 3W): open until 3W + 10 s
  const y = q(2 * W - 100, 1, { device: 'y', at: 2 * W + 6 }); // window [W, 2W), in time (deadline 2W + 10 s)
  const t = q(2 * W + 10_000, 1, { device: 't' }); // its arrival closes y's window
  expect(c2.run([o, y, t]).kept).toEqual([]); // y's is closed but o's open window ends below it
  expect(c2.heldFrom()).toBe(o.seq);
  expect(c2.tick<QueuedReading>(T0 + 10 * W).map((w) => [w.device, w.seq])).toEqual([
    ['o', o.seq],
    ['y', y.seq],
    ['t', t.seq],
  ]);
});

test('the ledger never acks past the first input of an emitted window the sink has not committed', () => {
  const l = new SinkLedger();
  l.record(10, []); // 1..10 held in a window
  expect(l.ackable(0, undefined, 1)).toEqual({ upTo: 0, events: 0 });
  l.record(20, [{ seq: 10, firstSeq: 1 }]); // the window (inputs 1..10) emitted; 11..20 held from 11
  expect(l.ackable(0, undefined, 11)).toEqual({ upTo: 0, events: 0 });
  expect(l.ackable(0, 10, 11)).toEqual({ upTo: 10, events: 1 });
  // Two windows in flight: the lower first input of both caps the ack.
  l.record(30, [
    { seq: 25, firstSeq: 21 },
    { seq: 28, firstSeq: 12 },
  ]);
  expect(l.ackable(10, 25, undefined)).toEqual({ upTo: 11, events: 1 });
  expect(l.ackable(11, 28, undefined)).toEqual({ upTo: 30, events: 1 });
});

test('non-numeric values are counted per reason; on_error drop drops them, keep passes them raw in queue order', () => {
  const d = agg({ functions: ['count'] });
  d.chain.run([q(0, 1), q(1, 'warm'), q(2, Number.NaN), q(3, true)]);
  expect(values(d.chain.run([q(W, 1)]).kept)).toEqual([{ count: 1 }]);
  const c = d.counts.get('1-aggregate');
  expect(c?.errors).toEqual({ not_numeric: 3 });
  expect(c?.dropped).toMatchObject({ error: 3 });
  expect(d.errors[0]).toMatch(/d1\/temperature: value "warm" is not a finite number/);

  const k = agg({ functions: ['count'], on_error: 'keep' });
  const first = q(0, 1);
  const bad = q(1, 'warm');
  k.chain.run([first, bad]);
  // The raw reading waits behind the open window (it must not overtake it in seq order).
  const out = k.chain.run([q(W, 1)]).kept;
  expect(out.map((o) => o.seq)).toEqual([first.seq, bad.seq]);
  expect(out[1]).toBe(bad);
  expect(k.counts.get('1-aggregate')?.errors).toEqual({ not_numeric: 1 });
});

test('a reading more than one window ahead of its arrival is dropped as future', () => {
  const { chain, counts } = agg();
  chain.run([q(W + 1, 1, { at: 0 }), q(W - 1, 1, { at: 0 })]);
  expect(counts.get('1-aggregate')?.dropped).toEqual({ future: 1, held: 1 });
});

test('max_open_windows: the oldest window is emitted early and tagged; its later readings are counted', () => {
  const { chain, counts } = agg({ max_open_windows: 2, functions: ['count'] });
  const out = chain.run([
    q(0, 1, { device: 'a' }),
    q(1, 1, { device: 'b' }),
    q(2, 1, { device: 'c' }),
    q(3, 1, { device: 'a' }),
  ]).kept;
  expect(out.map((o) => [o.device, o.tags?.['agg_closed']])).toEqual([['a', 'max_open_windows']]);
  expect(counts.get('1-aggregate')?.dropped).toEqual({ held: 3, evicted: 1 });
  expect(chain.tick<QueuedReading>(T0 + 10 * W).map((o) => o.device)).toEqual(['b', 'c']);
});

test('resume: a window ending at or below what the sink committed before a crash is rebuilt but not sent again', () => {
  const { chain } = agg({ functions: ['count'] });
  const a = q(0, 1, { device: 'a' });
  const b = q(1, 1, { device: 'b' });
  chain.resume(a.seq);
  chain.run([a, b]);
  expect(chain.tick<QueuedReading>(T0 + 10 * W).map((o) => o.device)).toEqual(['b']);
  expect(chain.heldFrom()).toBeUndefined();
});

test('aggregate runs on the sink side only', () => {
  const cfg = [{ type: 'aggregate', window_ms: W }];
  expect(processorList('sink').safeParse(cfg).success).toBe(true);
  const source = processorList('source').safeParse(cfg);
  expect(source.error?.issues[0]?.message).toBe('aggregate runs only on the sink side');
});

// --- the same windows for any batching -------------------------------------------------------------------

interface Input {
  device: number;
  ts: number;
  lag: number;
  value: number | string;
}

/** Queue entries from generated inputs: arrival is monotonic, ts lags it (sometimes beyond the lateness). */
function entries(inputs: readonly Input[]): QueuedReading[] {
  let at = 0;
  return inputs.map((x, i) => {
    at += x.ts;
    return {
      device: `d${x.device}`,
      metric: x.device % 2 === 0 ? 'temperature' : 'humidity',
      value: x.value,
      ts: T0 + at - x.lag,
      source: 'mqtt',
      seq: 1000 + i,
      appendedAt: T0 + at,
    };
  });
}

/** The whole output of one chain over `input` cut at `cuts`, then ticked far in the future. */
function outputs(input: readonly QueuedReading[], cuts: readonly number[]): QueuedReading[] {
  const { chain } = chainOf(
    [
      {
        type: 'aggregate',
        window_ms: 1000,
        allowed_lateness_ms: 500,
        on_error: 'keep',
        functions: ['mean', 'min', 'max', 'sum', 'count', 'first', 'last', 'stddev'],
      },
    ],
    sink,
  );
  const out: QueuedReading[] = [];
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    out.push(...chain.run(input.slice(from, cut)).kept);
    from = Math.max(from, cut);
  }
  out.push(...chain.run(input.slice(from)).kept);
  out.push(...chain.tick<QueuedReading>(T0 + 1e9));
  return out;
}

test('property: identical windows, in ascending seq order, for any batching of the same input', () => {
  const input = fc.record({
    device: fc.integer({ min: 0, max: 4 }),
    ts: fc.integer({ min: 0, max: 300 }),
    lag: fc.integer({ min: 0, max: 2000 }),
    value: fc.oneof(
      { weight: 20, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
      { weight: 1, arbitrary: fc.constant('bad') },
    ),
  });
  fc.assert(
    fc.property(
      fc.array(input, { minLength: 1, maxLength: 300 }),
      fc.array(fc.nat(300), { maxLength: 20 }),
      (inputs, cuts) => {
        const queue = entries(inputs);
        const whole = outputs(queue, []);
        const batched = outputs(queue, cuts);
        expect(batched).toEqual(whole);
        const seqs = whole.map((o) => o.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        const ids = whole.flatMap((o) => (o.id === undefined ? [] : [o.id]));
        expect(new Set(ids).size).toBe(ids.length);
        // An oracle of membership: a number joins its window iff it arrived before end + lateness and is
        // not a window ahead of its arrival (arrival is monotonic here); the count per window says so.
        const expected = new Map<string, number>();
        for (const x of queue) {
          const start = Math.floor(x.ts / 1000) * 1000;
          const at = x.appendedAt ?? 0;
          if (typeof x.value !== 'number' || at >= start + 1500 || x.ts >= at + 1000) continue;
          const id = `gw1:hdfs:${x.device}:${x.metric}:${start}`;
          expected.set(id, (expected.get(id) ?? 0) + 1);
        }
        const got = new Map(
          whole.flatMap((o) => (o.id === undefined ? [] : [[o.id, (o.value as { count: number }).count]])),
        );
        expect(got).toEqual(expected);
        // Raw (on_error: keep) readings are passed on too, each once.
        expect(whole.filter((o) => o.id === undefined)).toHaveLength(
          queue.filter((x) => x.value === 'bad').length,
        );
      },
    ),
    { numRuns: 300 },
  );
});
