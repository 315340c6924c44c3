// The Modbus RTU master against slaves that answer at once, through a socat pty: the project's own slave
// with no turnaround, and a foreign one, Debian's python3-pymodbus RTU server. On a pty (as behind USB
// CDC-ACM or a serial-to-TCP gateway) the answer can be back before the request's wire time has passed.
import { afterEach, describe, expect, it } from 'vitest';
import { encodeRegisters } from '../../drivers/modbus-rtu/index.js';
import { SimSlave } from '../drivers/modbus-slave.js';
import { PymodbusSlave } from '../peers/pymodbus.js';
import { until } from '../helpers/wait.mjs';
import { SerialHarness, modbusBus, serialWait } from './serial-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const temp = encodeRegisters(21.75, 'float32', 'big');
const HOLDING = { 0: 215, 1: temp[0]!, 2: temp[1]! };
const COILS = { 0: true, 1: false };

function driver(baud: number) {
  return {
    type: 'modbus-rtu' as const,
    baud_rate: baud,
    // pyserial cannot set parity on a Linux pty; no parity takes 2 stop bits (Modbus over Serial Line §2.5.1).
    parity: 'none' as const,
    stop_bits: 2 as const,
    poll_interval_ms: 20,
    // Generous: a loaded test host must not turn slow answers into errors.
    response_timeout_ms: 1000,
    slaves: [
      {
        address: 1,
        device: 'boiler',
        registers: [
          { metric: 'supply_temp', address: 0, data_type: 'int16' as const, scale: 0.1, unit: 'C' },
          { metric: 'room_temp', address: 1, data_type: 'float32' as const, unit: 'C' },
        ],
      },
      { address: 7, device: 'relays', registers: [{ metric: 'pump', table: 'coil' as const, address: 0 }] },
    ],
  };
}

async function start(
  baud: number,
  attach: (simPath: string) => Promise<() => Promise<void>>,
): Promise<SerialHarness> {
  const h = await SerialHarness.start(
    { driver: driver(baud), baud_rate: baud, parity: 'none', stop_bits: 2 },
    { beforeStart: async (pair) => void cleanups.push(await attach(pair.simPath)) },
  );
  cleanups.push(() => h.close());
  return h;
}

/** Every answer read, none dropped: 30 answers, 3 readings per two answers, no rejection of any kind. */
async function expectEveryAnswerRead(h: SerialHarness): Promise<void> {
  await until(() => h.source.stats().frames >= 30, {
    ...serialWait,
    what: '30 answers decoded',
    timeoutMs: 20_000,
    state: () => h.state(),
  });
  await until(() => h.settled(), { ...serialWait, what: 'appended' });
  expect(h.reasons()).toEqual({});
  const stored = h.readings();
  expect(stored.find((r) => r.metric === 'supply_temp')).toMatchObject({ device: 'boiler', value: 21.5 });
  expect(stored.find((r) => r.metric === 'room_temp')).toMatchObject({ value: 21.75 });
  expect(stored.find((r) => r.metric === 'pump')).toMatchObject({ device: 'relays', value: true });
  expect(stored.every((r) => r.value === { supply_temp: 21.5, room_temp: 21.75, pump: true }[r.metric])).toBe(
    true,
  );
}

describe('serial source: Modbus RTU slaves that answer at once', () => {
  for (const baud of [9600, 115_200]) {
    it(`reads every answer of the project's slave with no turnaround at ${baud} baud`, async () => {
      const bus = [new SimSlave(1, { holding: HOLDING }), new SimSlave(7, { coils: COILS })];
      const h = await start(baud, async (simPath) => {
        const sim = await modbusBus(simPath, bus, 11_000 / baud, 0);
        return () => sim.close();
      });
      await expectEveryAnswerRead(h);
    });

    it(`reads every answer of a pymodbus RTU server at ${baud} baud`, async () => {
      let slave: PymodbusSlave | undefined;
      const h = await start(baud, async (simPath) => {
        const s = await PymodbusSlave.start(simPath, {
          baudRate: baud,
          parity: 'none',
          stopBits: 2,
          units: { 1: { holding: HOLDING }, 7: { coils: COILS } },
        });
        slave = s;
        return () => s.stop();
      });
      await expectEveryAnswerRead(h);
      // Each answer pymodbus sent was decoded (one may be on its way when the counters are read).
      expect(h.source.stats().frames).toBeGreaterThanOrEqual((slave?.served ?? 0) - 1);
      expect(slave?.log).toBe('');
    });
  }
});
