// deadband and downsample: report by exception per series with a heartbeat, at most one reading per series
// and interval, and state that a reset (restart, sink rewind) forgets so the next reading passes.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { processorSchema } from '../../gateway/processors/index.js';
import { chainOf, r, run } from './helpers.js';

const T0 = 1_700_000_000_000;

test('deadband passes a value only when it leaves the absolute band around the last value passed', () => {
  const values = [20, 20.4, 20.5, 20.6, 21.2, 21.0, 20.6];
  const out = run(
    { type: 'deadband', band: 0.5 },
    values.map((value, i) => r({ value, ts: T0 + i })),
  );
  // 20 passes (first); 20.4 and 20.5 are within 0.5 of it; 20.6 leaves it; 21.2 leaves 20.6; 21.0 is
  // within 0.5 of 21.2; 20.6 is not.
  expect(out.map((x) => x.value)).toEqual([20, 20.6, 21.2, 20.6]);
});

test('deadband percent band, per device and metric, and the heartbeat after max_silence_ms of reading time', () => {
  const cfg = { type: 'deadband', percent: 10, max_silence_ms: 60_000 };
  const { chain, counts } = chainOf([cfg]);
  const out = chain.run([
    r({ value: 100, ts: T0 }),
    r({ value: 109, ts: T0 + 1000 }),
    r({ device: 'd2', value: 109, ts: T0 + 1000 }),
    r({ metric: 'rh', value: 101, ts: T0 + 1000 }),
    r({ value: 111, ts: T0 + 2000 }),
    r({ value: 111, ts: T0 + 61_999 }),
    r({ value: 111, ts: T0 + 62_000 }),
  ]).kept;
  expect(out.map((x) => `${x.device}/${x.metric}=${JSON.stringify(x.value)}@${x.ts - T0}`)).toEqual([
    'd1/temperature=100@0',
    'd2/temperature=109@1000',
    'd1/rh=101@1000',
    'd1/temperature=111@2000',
    'd1/temperature=111@62000',
  ]);
  expect(counts.get('1-deadband')?.dropped).toEqual({ in_band: 2 });
});

test('deadband reports each change of a non-numeric value, and forgets everything on reset', () => {
  const { chain } = chainOf([{ type: 'deadband', band: 1 }]);
  const states = ['on', 'on', 'off', 'off', 'on'].map((value, i) => r({ metric: 'pump', value, ts: T0 + i }));
  expect(chain.run(states).kept.map((x) => x.value)).toEqual(['on', 'off', 'on']);
  expect(chain.run([r({ value: 5 })]).kept).toHaveLength(1);
  expect(chain.run([r({ value: 5 })]).kept).toHaveLength(0);
  chain.reset();
  // After a restart or a sink rewind, the first reading of a series passes.
  expect(chain.run([r({ value: 5 })]).kept).toHaveLength(1);
  expect(processorSchema.safeParse({ type: 'deadband', band: 1, percent: 1 }).success).toBe(false);
  expect(processorSchema.safeParse({ type: 'deadband' }).success).toBe(false);
});

test('deadband state is bounded by max_keys: a forgotten series passes again', () => {
  const { chain } = chainOf([{ type: 'deadband', band: 10, max_keys: 2 }]);
  const at = (device: string): ReturnType<typeof r> => r({ device, value: 1 });
  // a and b are held; a's second reading is in band; c evicts a (least recently passed), a evicts b.
  expect(chain.run([at('a'), at('b'), at('a'), at('c'), at('a'), at('b')]).kept.map((x) => x.device)).toEqual(
    ['a', 'b', 'c', 'a', 'b'],
  );
});

test('property: deadband never lets two successive outputs of a series within the band, except by heartbeat', () => {
  const series = fc.array(
    fc.record({
      device: fc.constantFrom('a', 'b'),
      value: fc.oneof(fc.double({ min: -1000, max: 1000, noNaN: true }), fc.integer({ min: -5, max: 5 })),
      dt: fc.integer({ min: 0, max: 5000 }),
    }),
    { maxLength: 200 },
  );
  fc.assert(
    fc.property(
      series,
      fc.oneof(
        fc.record({ band: fc.double({ min: 0, max: 50, noNaN: true }) }),
        // Whole bands over whole values: outputs land exactly on the band's edge.
        fc.record({ band: fc.integer({ min: 0, max: 4 }) }),
        fc.record({ percent: fc.double({ min: 0, max: 50, noNaN: true }) }),
      ),
      fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined }),
      (input, band, maxSilence) => {
        let ts = T0;
        const readings = input.map((x) => r({ device: x.device, value: x.value, ts: (ts += x.dt) }));
        const cfg = { type: 'deadband', ...band, ...(maxSilence ? { max_silence_ms: maxSilence } : {}) };
        const out = chainOf([cfg]).chain.run(readings).kept;
        const last = new Map<string, { value: number; ts: number }>();
        for (const o of out) {
          const prev = last.get(o.device);
          const v = o.value as number;
          if (prev) {
            const width = 'band' in band ? band.band : (band.percent / 100) * Math.abs(prev.value);
            const outside =
              prev.value === 0 && 'percent' in band ? v !== 0 : Math.abs(v - prev.value) > width;
            const heartbeat = maxSilence !== undefined && o.ts - prev.ts >= maxSilence;
            expect(outside || heartbeat, `${prev.value} -> ${v}`).toBe(true);
          }
          last.set(o.device, { value: v, ts: o.ts });
        }
        // And nothing is invented: every output is an input, in order.
        let i = 0;
        for (const o of out) {
          while (readings[i] !== o) i++;
          expect(readings[i]).toBe(o);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('downsample passes the first reading of each series per interval, dropping later and older ones', () => {
  const { chain, counts } = chainOf([{ type: 'downsample', interval_ms: 1000 }]);
  const at = (device: string, t: number): ReturnType<typeof r> => r({ device, ts: T0 + t, value: t });
  const out = chain.run([
    at('a', 0),
    at('a', 500),
    at('b', 600),
    at('a', 1000),
    at('a', 999),
    at('a', 2500),
  ]).kept;
  expect(out.map((x) => `${x.device}@${x.ts - T0}`)).toEqual(['a@0', 'b@600', 'a@1000', 'a@2500']);
  expect(counts.get('1-downsample')?.dropped).toEqual({ downsampled: 2 });
  chain.reset();
  expect(chain.run([at('a', 2600)]).kept).toHaveLength(1);
  // `last` and `max_abs` hold readings: sink side only (test/processors/downsample.test.ts).
  expect(processorSchema.safeParse({ type: 'downsample', interval_ms: 1000, mode: 'mean' }).success).toBe(
    false,
  );
});
