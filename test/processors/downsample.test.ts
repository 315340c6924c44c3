// downsample last / max_abs on the sink side: the chosen reading of each interval is passed on as stored
// (its own seq, so its id), in ascending seq, with the cursor held below the interval's inputs; the modes
// are refused at the source; (fast-check) at most one output per series and interval, and it is the
// last / max-abs of its interval's inputs, for any batching.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { parseConfig } from '../../gateway/config/load.js';
import { isSluiceError } from '../../gateway/errors.js';
import { processorList } from '../../gateway/processors/index.js';
import { SinkLedger } from '../../gateway/processors/sink-ledger.js';
import type { ProcessorContext } from '../../gateway/processors/types.js';
import { toRecord, readingId, type QueuedReading, type ReadingValue } from '../../gateway/reading.js';
import { chainOf, ctx as sourceCtx } from './helpers.js';

const sink: ProcessorContext = { side: 'sink', component: 'kafka', gatewayId: 'gw1', fleetLabels: [] };
const T0 = 1_700_000_040_000; // a multiple of 60 s
const I = 60_000;

let nextSeq = 1;
/** A queue entry at `ts` from T0, arriving at `at` (default ts). */
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
    ts: T0 + ts,
    source: 'mqtt',
    seq: nextSeq++,
    appendedAt: T0 + (at ?? ts),
    ...rest,
  };
}

function ds(mode: string, options: Record<string, unknown> = {}) {
  return chainOf([{ type: 'downsample', interval_ms: I, mode, ...options }], sink);
}

test('last and max_abs pass the chosen reading of each interval as stored: same seq, same id', () => {
  const last = ds('last');
  const input = [q(1000, 3), q(30_000, -9), q(20_000, 5), q(59_999, 4)];
  expect(last.chain.run(input).kept).toEqual([]);
  // A reading of the next interval arriving past the deadline closes the first.
  const out = last.chain.run([q(I + 1, 7)]).kept;
  expect(out.map((o) => [o.seq, o.value])).toEqual([[input[3]?.seq, 4]]);
  // The id downstream is the stored reading's own (gateway + seq): dedup still works.
  expect(toRecord('gw1', out[0] as QueuedReading).id).toBe(readingId('gw1', input[3]?.seq ?? 0));
  expect(last.counts.get('1-downsample')?.dropped).toEqual({ downsampled: 5 });

  const max = ds('max_abs');
  const xs = [q(1000, 3), q(30_000, -9), q(20_000, 5), q(40_000, 9)];
  max.chain.run(xs);
  // |-9| == |9|: the later in the queue wins the tie.
  expect(max.chain.run([q(I + 1, 0)]).kept.map((o) => [o.seq, o.value])).toEqual([[xs[3]?.seq, 9]]);
  const out2 = max.chain.tick(T0 + 10 * I);
  expect(out2.map((o) => o.value)).toEqual([0]);
});

test('outputs go out in ascending seq across series, and readings passed untouched wait their turn', () => {
  const { chain } = ds('max_abs', { metrics: ['temperature'] });
  const a1 = q(1000, 50, { device: 'a' }); // a's choice: the oldest entry
  const b1 = q(2000, 1, { device: 'b' });
  const other = q(2500, 'on', { metric: 'state' }); // not downsampled, but must not overtake a1
  const b2 = q(3000, 2, { device: 'b' });
  expect(chain.run([a1, b1, other, b2]).kept).toEqual([]);
  // `other` waited behind a's open choice; the idle flush closes both intervals, all in seq order.
  const out = chain.tick<QueuedReading>(T0 + I + 2001);
  expect(out.map((o) => o.seq)).toEqual([a1.seq, other.seq, b2.seq]);
  expect(out[1]).toBe(other);
});

test('the cursor is held below an open interval and below an emitted one until the sink commits it', () => {
  const { chain } = ds('last');
  const first = q(1000, 1);
  const rest = [q(2000, 2), q(3000, 3)];
  chain.run([first, ...rest]);
  expect(chain.heldFrom()).toBe(first.seq);
  const closer = q(I + 10, 4);
  const [out] = chain.run([closer]).kept as [QueuedReading & { firstSeq?: number }];
  expect(out.seq).toBe(rest[1]?.seq);
  expect(out.firstSeq).toBe(first.seq);
  expect(chain.heldFrom()).toBe(closer.seq);
  const ledger = new SinkLedger();
  ledger.record(closer.seq, [out]);
  // Not committed yet: the cursor stays below the interval's first input (a crash rebuilds it).
  expect(ledger.ackable(first.seq - 1, undefined, chain.heldFrom()).upTo).toBe(first.seq - 1);
  // Committed: up to the open interval's first input.
  expect(ledger.ackable(first.seq - 1, out.seq, chain.heldFrom()).upTo).toBe(closer.seq - 1);
});

test('a reading of a closed interval is late; resume skips what the sink committed; non-numbers per on_error', () => {
  const { chain, counts } = ds('max_abs', { allowed_lateness_ms: 5000 });
  const a = q(1000, 1);
  // Arriving at the first interval's end + 5 s closes it.
  expect(chain.run([a, q(I + 1, 2, { at: I + 5000 })]).kept.map((o) => o.value)).toEqual([1]);
  // A larger value of that interval arriving after it closed is dropped, not a second output.
  expect(chain.run([q(2000, 100, { at: I + 6000 })]).kept).toEqual([]);
  expect(counts.get('1-downsample')?.dropped.late).toBe(1);

  const again = ds('max_abs');
  const x = q(1000, 5);
  again.chain.resume(x.seq); // committed before a crash: chosen again when rebuilt, never sent twice
  again.chain.run([x]);
  expect(again.chain.tick(T0 + 10 * I)).toEqual([]);

  const bad = ds('max_abs');
  const s = q(1000, 'high');
  // Kept (on_error: keep) and passed on at once: no open interval holds an older choice.
  expect(bad.chain.run([s, q(2000, 3)]).kept).toEqual([s]);
  expect(bad.counts.get('1-downsample')?.errors).toEqual({ not_numeric: 1 });
  expect(bad.chain.tick(T0 + 10 * I).map((o) => o.value)).toEqual([3]);
});

function configError(yaml: string): string {
  try {
    parseConfig(yaml, 'edge.yaml');
  } catch (err) {
    if (isSluiceError(err) && err.code === 'SLUICE_CONFIG_INVALID') return err.message;
    throw err;
  }
  throw new Error('the config was accepted');
}

test('last and max_abs are refused at the source with what to do instead; first runs on both sides', () => {
  for (const mode of ['last', 'max_abs']) {
    const msg = configError(
      `gateway:\n  id: gw\nsources:\n  sim:\n    type: simulator\n    processors:\n      - type: downsample\n        interval_ms: 1000\n        mode: ${mode}\n`,
    );
    expect(msg).toMatch(
      new RegExp(
        `sources\\.sim\\.processors\\.0\\.mode: downsample mode ${mode} runs only on the sink side.*use mode first here, or move this processor to a sink`,
      ),
    );
  }
  expect(processorList('sink').parse([{ type: 'downsample', interval_ms: 1000, mode: 'last' }])).toHaveLength(
    1,
  );
  expect(processorList('source').parse([{ type: 'downsample', interval_ms: 1000 }])).toHaveLength(1);
  // A chain built without the schema (a caller that skipped validation) is refused too.
  expect(() => chainOf([{ type: 'downsample', interval_ms: 1000, mode: 'last' }], sourceCtx)).toThrow(
    /runs only on the sink side/,
  );
});

interface Input {
  device: number;
  /** Gateway time moves on by `step`; the reading was taken `age` before and stored `lag` after. */
  step: number;
  age: number;
  lag: number;
  value: number;
}

test('property: at most one output per series and interval, the last / max-abs of it, in seq order, for any batching', () => {
  const input = fc.record({
    device: fc.integer({ min: 0, max: 3 }),
    step: fc.integer({ min: 0, max: 15 }),
    age: fc.integer({ min: 0, max: 80 }),
    lag: fc.integer({ min: 0, max: 40 }),
    value: fc.integer({ min: -5, max: 5 }), // few values: ties in |value| are frequent
  });
  fc.assert(
    fc.property(
      fc.constantFrom('last', 'max_abs'),
      fc.array(input, { minLength: 1, maxLength: 200 }),
      fc.array(fc.nat(200), { maxLength: 10 }),
      fc.integer({ min: 0, max: 100 }),
      (mode, inputs: Input[], cuts, lateness) => {
        const interval = 100;
        let now = 1000;
        const entries: QueuedReading[] = inputs.map((x, i) => {
          now += x.step;
          return {
            device: `d${x.device}`,
            metric: 'm',
            value: x.value,
            ts: now - x.age,
            source: 'mqtt',
            seq: i + 1,
            appendedAt: now + x.lag,
          };
        });
        const { chain } = chainOf(
          [
            {
              type: 'downsample',
              interval_ms: interval,
              mode,
              allowed_lateness_ms: lateness,
              idle_grace_ms: 0,
            },
          ],
          sink,
        );
        const out: QueuedReading[] = [];
        const bounds = [...new Set([0, ...cuts.filter((c) => c < entries.length), entries.length])].sort(
          (a, b) => a - b,
        );
        for (let i = 1; i < bounds.length; i++)
          out.push(...chain.run(entries.slice(bounds[i - 1], bounds[i]), 0).kept);
        out.push(...chain.tick<QueuedReading>(1e9));
        // The oracle: a reading is late when the latest arrival read so far passed its interval's end +
        // lateness; of the others, per series and interval, the latest ts (max |value|), ties the later seq.
        const best = new Map<string, QueuedReading>();
        let clock = 0;
        for (const e of entries) {
          clock = Math.max(clock, e.appendedAt ?? 0);
          const start = Math.floor(e.ts / interval) * interval;
          if (clock >= start + interval + lateness) continue;
          const key = `${e.device}/${start}`;
          const score = (r: QueuedReading) => (mode === 'last' ? r.ts : Math.abs(r.value as number));
          const b = best.get(key);
          if (!b || score(e) >= score(b)) best.set(key, e);
        }
        const want = [...best.values()].sort((a, b) => a.seq - b.seq).map((e) => e.seq);
        expect(out.map((o) => o.seq)).toEqual(want);
        const keys = out.map((o) => `${o.device}/${Math.floor(o.ts / interval)}`);
        expect(new Set(keys).size).toBe(keys.length);
      },
    ),
    { numRuns: 300 },
  );
});
