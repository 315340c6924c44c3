// The serial source end to end: a simulated device writes into one end of a socat pty pair, the source reads
// the other end through its driver, and the readings land in a real durable queue.
import { randomBytes } from 'node:crypto';
import { renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeSentence } from '../../drivers/nmea/index.js';
import { encodeRegisters } from '../../drivers/modbus-rtu/index.js';
import { SimSlave } from '../drivers/modbus-slave.js';
import { tempDir } from '../helpers/tmp.js';
import { PtyPair } from '../peers/socat.js';
import { until } from '../helpers/wait.mjs';
import { SerialHarness, SimDevice, modbusBus, openFds, serialWait } from './serial-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function harness(...args: Parameters<typeof SerialHarness.start>): Promise<SerialHarness> {
  const h = await SerialHarness.start(...args);
  cleanups.push(() => h.close());
  await until(() => h.source.stats().connected, { ...serialWait, what: 'port open' });
  return h;
}

async function device(...args: Parameters<typeof SimDevice.open>): Promise<SimDevice> {
  const d = await SimDevice.open(...args);
  cleanups.push(() => d.close());
  return d;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('serial source: line sensor', () => {
  it('appends every JSON line to the durable queue, in batches, and counts bytes and frames', async () => {
    const h = await harness({ driver: { type: 'lines' }, device: 'bench-sensor' });
    const sim = await device(h.pair.simPath);
    const lines = Array.from({ length: 2000 }, (_, i) => `{"seq":${i},"temp":${20 + (i % 10) / 10}}\n`);
    const text = lines.join('');
    await sim.write(text);
    await until(() => h.source.stats().readings === 4000, { ...serialWait, what: 'all readings appended' });
    const stored = h.readings();
    expect(stored.filter((r) => r.metric === 'seq').map((r) => r.value)).toEqual(lines.map((_, i) => i));
    expect(stored[0]).toMatchObject({ device: 'bench-sensor', source: 'port1', metric: 'seq' });
    expect(h.source.stats()).toMatchObject({
      bytes: text.length,
      frames: 2000,
      bad_frames: 0,
      reconnects: 0,
    });
    expect(h.bytesReceived).toBe(text.length);
    // Group commit: one append per read (a pty read carries many lines), never one fsync per line.
    expect(h.queue.stats().commits).toBeLessThan(100);
  });

  it('skips garbage and overlong lines, counts them, and reads the valid lines around them', async () => {
    const h = await harness({ driver: { type: 'lines', max_line_bytes: 64 } });
    const sim = await device(h.pair.simPath);
    await sim.write('{"t":1}\nnot json at all\n');
    await sim.write(`${'x'.repeat(500)}\n{"t":2}\n{"t":`);
    await pause(20);
    await sim.write('3}\n');
    await until(() => h.source.stats().readings === 3, { ...serialWait, what: 'valid lines appended' });
    expect(h.readings().map((r) => r.value)).toEqual([1, 2, 3]);
    expect(h.source.stats()).toMatchObject({ frames: 3, bad_frames: 2 });
    expect(Object.keys(h.reasons()).sort()).toEqual(['bad_json', 'line_too_long'].sort());
  });
});

describe('serial source: NMEA talker', () => {
  const GGA = encodeSentence('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,');
  const RMC = encodeSentence('GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W');
  const VTG = encodeSentence('GPVTG,054.7,T,034.4,M,005.5,N,010.2,K');

  it('decodes sentences split across reads and resyncs after garbage, truncation and bad checksums', async () => {
    const h = await harness({ driver: { type: 'nmea' }, device: 'gps', baud_rate: 4800 });
    const sim = await device(h.pair.simPath);
    const badChecksum = GGA.replace(/\*[0-9A-F]{2}/, '*00');
    const script = [
      GGA,
      '\x00\xff\x13 line noise \x07',
      GGA.slice(0, 30), // truncated: the receiver was reset mid-sentence
      RMC,
      badChecksum,
      VTG.slice(0, 10),
      VTG.slice(10),
    ];
    for (const part of script) {
      await sim.write(part);
      await pause(5);
    }
    await sim.write(randomBytes(16_384).toString('latin1').replaceAll('$', '#')); // a burst of noise
    await sim.write(`\r\n${GGA}`);
    await until(() => h.source.stats().frames === 4 && h.settled(), {
      ...serialWait,
      what: 'four valid sentences',
      timeoutMs: 5000,
      state: () => h.state(),
    });
    const reasons = h.reasons();
    expect(reasons).toMatchObject({ truncated: 1, bad_checksum: 1 });
    expect(reasons.garbage).toBeGreaterThanOrEqual(1);
    const stored = h.readings();
    expect(stored.filter((r) => r.metric === 'position')).toHaveLength(3); // GGA, RMC, GGA
    expect(stored.find((r) => r.metric === 'altitude')).toMatchObject({
      device: 'gps',
      value: 545.4,
      unit: 'm',
    });
    expect(h.source.stats().bad_frames).toBe(h.rejections.length);
    expect(h.source.health().state).toBe('healthy');
  });
});

describe('serial source: Modbus RTU master', () => {
  const CHAR_MS = 11_000 / 19_200; // 8E1
  const temp = encodeRegisters(21.75, 'float32', 'big');

  function slaves(): SimSlave[] {
    return [
      new SimSlave(1, { holding: { 0: 215, 1: temp[0]!, 2: temp[1]! } }),
      new SimSlave(7, { coils: { 0: true, 1: false } }),
    ];
  }

  const driver = {
    type: 'modbus-rtu' as const,
    baud_rate: 19_200,
    parity: 'even' as const,
    poll_interval_ms: 40,
    response_timeout_ms: 150,
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

  it('polls real RTU frames through the pty and queues the decoded registers', async () => {
    const bus = slaves();
    // The Modbus default time-out (1 s): a loaded test host must not turn slow answers into errors.
    const h = await harness(
      { driver: { ...driver, response_timeout_ms: 1000 }, baud_rate: 19_200, parity: 'even' },
      {
        beforeStart: async (pair) => {
          const sim = await modbusBus(pair.simPath, bus, CHAR_MS);
          cleanups.push(() => sim.close());
        },
      },
    );
    await until(() => h.readings().filter((r) => r.device === 'relays').length >= 3, {
      ...serialWait,
      what: 'three polls of each',
      timeoutMs: 5000,
    });
    const stored = h.readings();
    expect(stored.find((r) => r.metric === 'supply_temp')).toMatchObject({
      device: 'boiler',
      value: 21.5,
      unit: 'C',
    });
    expect(stored.find((r) => r.metric === 'room_temp')).toMatchObject({ value: 21.75 });
    expect(stored.find((r) => r.metric === 'pump')).toMatchObject({ device: 'relays', value: true });
    expect(bus[0]!.received[0]).toEqual({ slave: 1, fc: 3, address: 0, quantity: 3 });
    expect(h.rejections).toEqual([]);
    expect(h.source.stats().bad_frames).toBe(0);
  });

  it('counts bad CRCs and noisy answers, and keeps polling', async () => {
    const bus = slaves();
    let n = 0;
    bus[0]!.fault = () => (n++ % 3 === 1 ? 'bad_crc' : undefined);
    bus[1]!.fault = () => (n % 4 === 0 ? { noise: Uint8Array.of(0x00, 0xff, 0x42) } : undefined);
    const h = await harness({ driver, baud_rate: 19_200, parity: 'even' });
    const sim = await modbusBus(h.pair.simPath, bus, CHAR_MS);
    cleanups.push(() => sim.close());
    await until(() => h.reasons().bad_crc! >= 3 && h.source.stats().frames >= 10, {
      ...serialWait,
      what: 'faults and good frames',
      timeoutMs: 8000,
    });
    await until(() => h.settled(), { ...serialWait, what: 'appended' });
    const reasons = h.reasons();
    expect(Object.keys(reasons).every((r) => ['bad_crc', 'unexpected_data', 'timeout'].includes(r))).toBe(
      true,
    );
    expect(
      h
        .readings()
        .filter((r) => r.metric === 'supply_temp')
        .every((r) => r.value === 21.5),
    ).toBe(true);
    expect(h.source.health().state).toBe('healthy');
  });

  it('refuses a config whose Modbus line settings differ from the port', async () => {
    const { schema } = await import('../../gateway/sources/serial/index.js');
    const result = schema.safeParse({ type: 'serial', path: '/dev/null', baud_rate: 9600, driver });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['driver.baud_rate', 'driver.parity']);
  });
});

describe('serial source: back-pressure', () => {
  it('counts readings refused by a full queue (reject_new), keeps going, and recovers', async () => {
    const h = await harness(
      { driver: { type: 'lines', format: { type: 'kv' } } },
      { maxBytes: 64 * 1024, onFull: 'reject_new' },
    );
    const sim = await device(h.pair.simPath);
    for (let i = 0; i < 60; i++) {
      await sim.write(Array.from({ length: 50 }, (_, k) => `n=${i * 50 + k}\n`).join(''));
      await pause(2);
    }
    await until(
      () => {
        const s = h.source.stats();
        // A batch larger than the whole queue (reads merged under load) is refused as too large instead.
        return s.readings + s.dropped_queue_full + s.dropped_ingest_error === 3000;
      },
      { ...serialWait, what: 'all accounted', timeoutMs: 5000, state: () => h.state() },
    );
    const stats = h.source.stats();
    expect(stats.dropped_queue_full).toBeGreaterThan(0);
    expect(h.discarded.get('queue_full')).toBe(stats.dropped_queue_full);
    expect(h.errors.some((e) => e.stage === 'ingest' && e.kind === 'SLUICE_QUEUE_FULL')).toBe(true);
    expect(h.readings()).toHaveLength(stats.readings);
    // Degraded while appends are refused, healthy again after any that succeeds; the last error stays.
    expect(h.source.health().lastError?.code).toBe('SLUICE_QUEUE_FULL');
    expect(stats.connected).toBe(true);

    // A sink catches up: the queue has room again, and the same port's readings get in.
    await h.queue.openCursor('sink', 'oldest');
    await h.queue.ack('sink', h.queue.lastSeq);
    await until(() => h.queue.stats().bytes === 0, { ...serialWait, what: 'queue trimmed' });
    await sim.write('n=3000\nn=3001\n');
    await until(() => h.source.stats().readings === stats.readings + 2, {
      ...serialWait,
      what: 'appended after recovery',
    });
    expect(h.source.health().state).toBe('healthy');
  });

  it('holds at most max_pending_readings while an append is slow, and counts the overflow', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const h = await harness(
      { driver: { type: 'lines', format: { type: 'kv' } }, max_pending_readings: 100 },
      { ingest: (next) => async (r) => (await gate, next(r)) },
    );
    const sim = await device(h.pair.simPath);
    for (let i = 0; i < 10; i++) {
      await sim.write(Array.from({ length: 100 }, (_, k) => `n=${i * 100 + k}\n`).join(''));
      await pause(2);
    }
    await until(() => h.source.stats().frames === 1000, {
      ...serialWait,
      what: 'all lines read',
      timeoutMs: 5000,
      state: () => h.state(),
    });
    const held = h.source.stats();
    expect(held.pending).toBe(100);
    release();
    await until(
      () => h.source.stats().pending === 0 && h.source.stats().readings + held.dropped_overflow === 1000,
      { ...serialWait, what: 'drained' },
    );
    expect(h.discarded.get('overflow')).toBe(held.dropped_overflow);
    // Dropping the newest keeps what is queued in order.
    const values = h.readings().map((r) => r.value as number);
    expect(values).toEqual([...values].sort((a, b) => a - b));
  });
});

describe('serial source: hotplug without a close event', () => {
  it('notices by its periodic check that the path names another device node, and moves to it', async () => {
    const dir = tempDir('sluice-serial-relink-');
    const a = await PtyPair.start(tempDir('sluice-serial-a-'));
    const b = await PtyPair.start(tempDir('sluice-serial-b-'));
    cleanups.push(
      () => a.stop(),
      () => b.stop(),
    );
    const link = join(dir, 'by-id');
    symlinkSync(a.devPath, link);
    const h = await SerialHarness.startOn(link, {
      driver: { type: 'lines', format: { type: 'kv' } },
      check_interval_ms: 50,
    });
    cleanups.push(() => h.close());
    await until(() => h.source.stats().connected, { ...serialWait, what: 'open on a' });
    const fds = openFds();
    // Pair a stays alive, so no read fails and serialport emits nothing: only the check can notice.
    symlinkSync(b.devPath, `${link}.new`);
    renameSync(`${link}.new`, link);
    await until(() => h.source.stats().reconnects === 1, {
      ...serialWait,
      what: 'reopened on b',
      timeoutMs: 2000,
    });
    expect(h.source.stats().disconnects).toBe(1);
    expect(openFds()).toBe(fds);
    const simA = await device(a.simPath);
    const simB = await device(b.simPath);
    await simA.write('from=1\n');
    await simB.write('from=2\n');
    await until(() => h.source.stats().readings === 1, { ...serialWait, what: 'reading from b' });
    await pause(50);
    expect(h.readings().map((r) => r.value)).toEqual([2]);
  });
});
