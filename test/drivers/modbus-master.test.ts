import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codec, create, encodeRegisters, schema } from '../../drivers/modbus-rtu/index.js';
import { reasons } from './helpers.js';
import { SimSlave, runBus } from './modbus-slave.js';

type Input = Parameters<typeof create>[0];

const CHAR_MS_9600 = 11_000 / 9600; // 8E1: 11 bits per character
const T35_9600 = 3.5 * CHAR_MS_9600;

// Two slaves on one bus: a heat meter and an I/O module.
const float = encodeRegisters(21.75, 'float32', 'little');
const energy = encodeRegisters(123_456_789, 'uint32', 'big');
const meter = () =>
  new SimSlave(1, {
    holding: { 0: 215, 1: 0xfff6, 10: energy[0]!, 11: energy[1]! },
    input: { 5: float[0]!, 6: float[1]! },
  });
const io = () => new SimSlave(7, { coils: { 0: true, 1: false, 2: true }, discrete: { 100: true } });

const OPTIONS: Input = {
  type: 'modbus-rtu',
  poll_interval_ms: 1000,
  response_timeout_ms: 200,
  slaves: [
    {
      address: 1,
      device: 'heat-meter',
      registers: [
        { metric: 'supply_temp', address: 0, data_type: 'int16', scale: 0.1, unit: 'C' },
        { metric: 'delta', address: 1, data_type: 'int16', offset: 100 },
        { metric: 'energy', address: 10, data_type: 'uint32', unit: 'Wh' },
        {
          metric: 'flow',
          table: 'input',
          address: 5,
          data_type: 'float32',
          word_order: 'little',
          unit: 'm3/h',
        },
      ],
    },
    {
      address: 7,
      device: 'io-module',
      registers: [
        { metric: 'pump', table: 'coil', address: 0 },
        { metric: 'valve', table: 'coil', address: 1 },
        { metric: 'fan', table: 'coil', address: 2 },
        { metric: 'door', table: 'discrete', address: 100 },
      ],
    },
  ],
};

const EXPECTED = [
  { device: 'heat-meter', metric: 'supply_temp', value: 21.5, unit: 'C' },
  { device: 'heat-meter', metric: 'delta', value: 90 },
  { device: 'heat-meter', metric: 'energy', value: 123_456_789, unit: 'Wh' },
  { device: 'heat-meter', metric: 'flow', value: 21.75, unit: 'm3/h' },
  { device: 'io-module', metric: 'pump', value: true },
  { device: 'io-module', metric: 'valve', value: false },
  { device: 'io-module', metric: 'fan', value: true },
  { device: 'io-module', metric: 'door', value: true },
];

function strip<T extends { at: number }>(rs: readonly T[]): Omit<T, 'at'>[] {
  return rs.map(({ at: _at, ...r }) => r);
}

/** Every write waits 3.5 characters after the last byte on the bus, and none overlaps a transaction. */
function expectSilentIntervals(log: ReturnType<typeof runBus>, t35: number, charMs: number): void {
  let busyUntil = -Infinity;
  const answers = [...log.answers];
  for (const w of log.writes) {
    for (const a of answers) if (a.at <= w.at) busyUntil = Math.max(busyUntil, a.at);
    expect(w.at - busyUntil).toBeGreaterThanOrEqual(t35 - 1e-9);
    busyUntil = w.at + w.frame.length * charMs;
  }
}

describe('modbus-rtu master against simulated slaves', () => {
  it('polls several slaves and decodes every data type, scale, offset and word order', () => {
    const log = runBus(create(OPTIONS), [meter(), io()], 999, { charMs: CHAR_MS_9600 });
    expect(strip(log.readings)).toEqual(EXPECTED);
    expect(log.errors).toEqual([]);
    // holding 0-1, holding 10-11, input 5-6, coils 0-2, discrete 100: five requests, five answers.
    expect(log.writes.map((w) => codec.decodeReadRequest(w.frame))).toEqual(
      [
        { slave: 1, fc: 3, address: 0, quantity: 2 },
        { slave: 1, fc: 3, address: 10, quantity: 2 },
        { slave: 1, fc: 4, address: 5, quantity: 2 },
        { slave: 7, fc: 1, address: 0, quantity: 3 },
        { slave: 7, fc: 2, address: 100, quantity: 1 },
      ].map((value) => ({ ok: true, value })),
    );
    expect(log.frames).toBe(5);
  });

  it('repeats the schedule every poll_interval_ms, one request in flight at a time', () => {
    const log = runBus(create(OPTIONS), [meter(), io()], 3500, { charMs: CHAR_MS_9600 });
    expect(log.writes).toHaveLength(20);
    expect(log.readings).toHaveLength(32);
    for (const cycle of [0, 1, 2, 3]) {
      expect(log.writes[cycle * 5]?.at).toBe(cycle * 1000);
    }
    // Strictly alternating: a request, its answer, the next request.
    log.writes.forEach((w, i) => {
      const answer = log.answers[i];
      expect(answer !== undefined && answer.at > w.at).toBe(true);
      const next = log.writes[i + 1];
      if (next !== undefined && answer !== undefined) expect(next.at).toBeGreaterThan(answer.at);
    });
    expectSilentIntervals(log, T35_9600, CHAR_MS_9600);
  });

  it('waits 3.5 character times after the last byte before the next request', () => {
    const driver = create(OPTIONS);
    const slave = meter();
    const first = driver.step?.(0);
    const answer = slave.answer(first!.write!)!;
    const lastByteAt = 20;
    expect(driver.push(answer, lastByteAt).readings).toHaveLength(2);
    const early = driver.step?.(lastByteAt + T35_9600 - 0.01);
    expect(early?.write).toBeUndefined();
    expect(early?.wakeInMs).toBeGreaterThanOrEqual(0.01);
    expect(driver.step?.(lastByteAt + T35_9600)?.write).toBeDefined();
  });

  it('uses the fixed 1.75 ms silence above 19200 baud', () => {
    const driver = create({ ...OPTIONS, baud_rate: 115200 });
    const answer = meter().answer(driver.step!(0).write!)!;
    driver.push(answer, 5);
    expect(driver.step!(6.74).write).toBeUndefined();
    expect(driver.step!(6.75).write).toBeDefined();
  });

  it('reports a silent slave as a timeout per register, and goes on polling the others', () => {
    const silent = io();
    silent.fault = () => 'silent';
    const log = runBus(create(OPTIONS), [meter(), silent], 999, { charMs: CHAR_MS_9600 });
    expect(strip(log.readings)).toEqual(EXPECTED.slice(0, 4));
    expect(log.errors.map((e) => [e.reason, e.device])).toEqual(
      Array.from({ length: 4 }, () => ['timeout', 'io-module']),
    );
    expect(log.errors[0]?.detail).toMatch(/^pump \(slave 7 coil 0\+3\): no answer within 200 ms/);
    // The coil request timed out 200 ms after it left the wire; the discrete request followed.
    const [coil, discrete] = log.writes.slice(3);
    expect(discrete!.at - coil!.at).toBeCloseTo(8 * CHAR_MS_9600 + 200, 6);
  });

  it('reports exception answers per register with the exception name', () => {
    const busy = meter();
    busy.fault = (r) => (r.fc === 4 ? { exception: 6 } : undefined);
    const options: Input = {
      ...OPTIONS,
      slaves: [OPTIONS.slaves[0]!, { ...OPTIONS.slaves[1]!, address: 8 }],
    };
    const log = runBus(create(options), [busy], 999, { charMs: CHAR_MS_9600 });
    const exceptions = log.errors.filter((e) => e.reason === 'exception');
    expect(exceptions).toEqual([
      {
        reason: 'exception',
        device: 'heat-meter',
        detail: 'flow (slave 1 input 5+2): SERVER DEVICE BUSY (exception code 6)',
      },
    ]);
    expect(log.errors.map((e) => e.reason).filter((r) => r !== 'exception')).toEqual(
      Array(4).fill('timeout'),
    );
    // An exception answer is a valid frame.
    expect(log.frames).toBe(3);
  });

  it('answers ILLEGAL DATA ADDRESS for unmapped registers (slave simulator) and reports it', () => {
    const options: Input = {
      ...OPTIONS,
      slaves: [{ address: 1, device: 'm', registers: [{ metric: 'x', address: 500 }] }],
    };
    const log = runBus(create(options), [meter()], 100, { charMs: CHAR_MS_9600 });
    expect(log.errors.map((e) => e.detail)).toEqual([
      'x (slave 1 holding 500+1): ILLEGAL DATA ADDRESS (exception code 2)',
    ]);
  });

  it('discards an answer with a bad CRC and reads the next one', () => {
    const flaky = meter();
    let n = 0;
    flaky.fault = () => (n++ === 0 ? 'bad_crc' : undefined);
    const log = runBus(create(OPTIONS), [flaky, io()], 999, { charMs: CHAR_MS_9600 });
    expect(log.errors.map((e) => e.reason)).toEqual(['bad_crc', 'bad_crc']);
    expect(log.errors.map((e) => e.detail.split(' ')[0])).toEqual(['supply_temp', 'delta']);
    expect(strip(log.readings)).toEqual(EXPECTED.slice(2));
  });

  it('reads answers arriving one byte at a time, and skips noise before them', () => {
    const noisy = meter();
    noisy.fault = () => ({ noise: Uint8Array.of(0x00, 0xff, 0x01) });
    const log = runBus(create(OPTIONS), [noisy, io()], 999, { charMs: CHAR_MS_9600, bytewise: true });
    expect(strip(log.readings)).toEqual(EXPECTED);
    expect(new Set(log.errors.map((e) => e.reason))).toEqual(new Set(['unexpected_data']));
    expectSilentIntervals(log, T35_9600, CHAR_MS_9600);
  });

  it('does not take a late answer to a timed-out request for the answer to the next one', () => {
    const driver = create(OPTIONS);
    const slave = meter();
    const request = driver.step!(0).write!;
    const deadline = 8 * CHAR_MS_9600 + 200;
    const timedOut = driver.step!(deadline);
    expect(reasons(timedOut)).toEqual(['timeout', 'timeout']);
    // The next poll (holding 10+2) would get an answer of the same slave, function and length: only timing
    // tells them apart, so it waits one more response time-out for the late answer to come and go.
    expect(timedOut.write).toBeUndefined();
    expect(timedOut.wakeInMs).toBeCloseTo(200, 6);
    const late = driver.push(slave.answer(request)!, deadline + 150);
    expect(late.readings).toEqual([]);
    expect(reasons(late)).toEqual(['unexpected_data']);
    expect(driver.step!(deadline + 199.9).write).toBeUndefined();
    const next = driver.step!(deadline + 200).write!;
    expect(codec.decodeReadRequest(next)).toMatchObject({ value: { slave: 1, fc: 3, address: 10 } });
    const answer = slave.answer(next)!;
    expect(driver.push(answer, deadline + 201).readings.map((r) => r.metric)).toEqual(['energy']);
  });

  it('sends a request whose answer differs from the timed-out one at once', () => {
    const options: Input = {
      ...OPTIONS,
      slaves: [
        {
          ...OPTIONS.slaves[0]!,
          // holding 0+2, then holding 10+1: another byte count tells a late answer apart.
          registers: [
            { metric: 'a', address: 0, data_type: 'uint32' },
            { metric: 'b', address: 10 },
          ],
        },
      ],
    };
    const driver = create(options);
    driver.step!(0);
    const timedOut = driver.step!(8 * CHAR_MS_9600 + 200);
    expect(reasons(timedOut)).toEqual(['timeout']);
    expect(codec.decodeReadRequest(timedOut.write!)).toMatchObject({ value: { address: 10, quantity: 1 } });
  });

  for (const baud of [9600, 115_200]) {
    for (const turnaroundMs of [0, 0.5]) {
      it(`reads answers back before the request's wire time (virtual port, ${baud} baud, +${turnaroundMs} ms)`, () => {
        const charMs = 11_000 / baud;
        const driver = create({ ...OPTIONS, baud_rate: baud });
        const log = runBus(driver, [meter(), io()], 2999, { charMs, virtual: true, turnaroundMs });
        expect(log.errors).toEqual([]);
        expect(strip(log.readings)).toEqual([...EXPECTED, ...EXPECTED, ...EXPECTED]);
        expect(log.frames).toBe(15);
      });
    }
  }

  it('recovers at once from a lost answer on a virtual port (the late-answer wait does not chain)', () => {
    const flaky = meter();
    let n = 0;
    flaky.fault = () => (n++ === 0 ? 'silent' : undefined);
    const log = runBus(create(OPTIONS), [flaky, io()], 1999, { charMs: CHAR_MS_9600, virtual: true });
    expect(log.errors.map((e) => [e.reason, e.detail.split(' ')[0]])).toEqual([
      ['timeout', 'supply_temp'],
      ['timeout', 'delta'],
    ]);
    expect(strip(log.readings)).toEqual([...EXPECTED.slice(2), ...EXPECTED]);
  });

  it('forgets the request in flight on reset', () => {
    const driver = create(OPTIONS);
    driver.step!(0);
    driver.reset();
    const next = driver.step!(1);
    expect(next.errors).toEqual([]);
    expect(codec.decodeReadRequest(next.write!)).toMatchObject({
      ok: true,
      value: { slave: 1, address: 10 },
    });
  });

  it('merges registers into requests up to the gap and quantity limits', () => {
    const registers = Array.from({ length: 130 }, (_, i) => ({ metric: `r${i}`, address: i * 2 }));
    const requests = (gap: number) => {
      const log = runBus(
        create({ ...OPTIONS, max_gap_addresses: gap, slaves: [{ address: 3, device: 'big', registers }] }),
        [],
        0,
        { charMs: CHAR_MS_9600 },
      );
      return log.writes.map((w) => codec.decodeReadRequest(w.frame));
    };
    expect(requests(0)[0]).toMatchObject({ value: { address: 0, quantity: 1 } });
    expect(requests(1)[0]).toMatchObject({ value: { address: 0, quantity: 125 } });
  });

  it('validates the register maps', () => {
    const slave = (registers: unknown[]) => ({
      type: 'modbus-rtu',
      slaves: [{ address: 1, device: 'd', registers }],
    });
    expect(
      schema.safeParse(slave([{ metric: 'a', table: 'coil', address: 0, data_type: 'int16' }])).success,
    ).toBe(false);
    expect(schema.safeParse(slave([{ metric: 'a', address: 0, data_type: 'bit' }])).success).toBe(false);
    expect(schema.safeParse(slave([{ metric: 'a', address: 65535, data_type: 'uint32' }])).success).toBe(
      false,
    );
    expect(schema.safeParse(slave([{ metric: 'a', table: 'coil', address: 0, scale: 2 }])).success).toBe(
      false,
    );
    expect(schema.safeParse({ ...slave([{ metric: 'a', address: 0 }]), slaves: [] }).success).toBe(false);
    const twice = {
      type: 'modbus-rtu',
      slaves: [0, 1].map(() => ({ address: 5, device: 'd', registers: [{ metric: 'a', address: 0 }] })),
    };
    expect(schema.safeParse(twice).success).toBe(false);
    expect(schema.safeParse(slave([{ metric: 'a', address: 0 }])).success).toBe(true);
  });
});

describe('modbus-rtu master: properties', () => {
  it('never throws nor stalls on random bytes at random times, and recovers', () => {
    const action = fc.oneof(
      fc.record({
        push: fc.uint8Array({ maxLength: 300 }),
        dt: fc.double({ min: 0, max: 500, noNaN: true }),
      }),
      fc.record({ dt: fc.double({ min: 0, max: 500, noNaN: true }) }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 40 }), (actions) => {
        const driver = create(OPTIONS);
        let now = 0;
        for (const a of actions) {
          now += a.dt;
          if ('push' in a) driver.push(a.push, now);
          const out = driver.step!(now);
          // Always either writing or asking to be woken: the master never waits on nothing.
          expect(out.write !== undefined || (out.wakeInMs !== undefined && out.wakeInMs > 0)).toBe(true);
        }
        // Once the line is clean again, the slaves are read within the next poll cycle.
        const slaves = [meter(), io()];
        let wake = now;
        let readings = 0;
        for (let i = 0; i < 200 && readings < EXPECTED.length; i++) {
          const out = driver.step!(wake);
          readings += out.readings.length;
          if (out.write !== undefined) {
            for (const s of slaves) {
              const answer = s.answer(out.write);
              if (answer !== undefined) readings += driver.push(answer, wake + 20).readings.length;
            }
            wake += 20;
          } else wake += out.wakeInMs ?? 1;
        }
        expect(readings).toBeGreaterThanOrEqual(EXPECTED.length);
      }),
      { numRuns: 150 },
    );
  });
});
