import { describe, expect, it } from 'vitest';
import { createDriver, driverSchema, drivers } from '../../drivers/index.js';
import type { DriverConfig } from '../../drivers/index.js';
import { ascii } from './helpers.js';

const MINIMAL: DriverConfig[] = [
  { type: 'lines' },
  { type: 'nmea' },
  { type: 'modbus-rtu', slaves: [{ address: 1, device: 'd', registers: [{ metric: 'm', address: 0 }] }] },
  { type: 'pms5003' },
  { type: 'sds011' },
];

describe('driver registry', () => {
  it('lists every driver once, each with a schema tagged by its type', () => {
    expect(drivers.map((d) => d.type)).toEqual(['lines', 'nmea', 'modbus-rtu', 'pms5003', 'sds011']);
    for (const d of drivers) {
      expect(d.description.length).toBeGreaterThan(10);
      const minimal = MINIMAL.find((m) => m.type === d.type);
      expect(d.schema.safeParse(minimal).success).toBe(true);
      expect(d.schema.safeParse({ ...minimal, type: 'other' }).success).toBe(false);
    }
  });

  it('validates a driver block by its type tag, with defaults filled in and unknown keys rejected', () => {
    expect(driverSchema.parse({ type: 'nmea' })).toMatchObject({
      require_checksum: true,
      max_sentence_bytes: 128,
    });
    expect(driverSchema.parse({ type: 'lines' })).toMatchObject({
      format: { type: 'json' },
      max_line_bytes: 4096,
    });
    expect(driverSchema.safeParse({ type: 'nmea', checksum: 'off' }).success).toBe(false);
    expect(driverSchema.safeParse({ type: 'nope' }).success).toBe(false);
  });

  it('bounds the lists a config multiplies readings by (a pushed bundle cannot ask for millions)', () => {
    const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
    const csv = (n: number) => ({ type: 'lines', format: { type: 'csv', columns: many(n, (i) => `c${i}`) } });
    expect(driverSchema.safeParse(csv(1024)).success).toBe(true);
    expect(driverSchema.safeParse(csv(1025)).success).toBe(false);
    const units = (n: number) => ({
      type: 'lines',
      units: Object.fromEntries(many(n, (i) => [`m${i}`, 'C'])),
    });
    expect(driverSchema.safeParse(units(1024)).success).toBe(true);
    expect(driverSchema.safeParse(units(1025)).error?.issues[0]?.message).toBe('at most 1024 metrics');
    const regs = (n: number) => ({
      type: 'modbus-rtu',
      slaves: [{ address: 1, device: 'd', registers: many(n, (i) => ({ metric: `m${i}`, address: i })) }],
    });
    expect(driverSchema.safeParse(regs(1024)).success).toBe(true);
    expect(driverSchema.safeParse(regs(1025)).success).toBe(false);
  });

  it('builds each driver from its config; only the Modbus master polls', () => {
    for (const config of MINIMAL) {
      const driver = createDriver(config);
      expect(driver.push(ascii('garbage'), 0).readings).toEqual([]);
      expect(driver.step !== undefined).toBe(config.type === 'modbus-rtu');
    }
    expect(() => createDriver({ type: 'modbus-rtu', slaves: [] })).toThrow(
      expect.objectContaining({ code: 'DRIVER_OPTIONS_INVALID', message: expect.stringContaining('slaves') }),
    );
  });
});
