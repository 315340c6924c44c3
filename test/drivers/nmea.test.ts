import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DriverReading } from '../../drivers/driver.js';
import { checksum, create, encodeSentence } from '../../drivers/nmea/index.js';
import {
  ascii,
  assertBytewiseSameAsWhole,
  assertRobustAgainstRandomBytes,
  assertSplitInvariant,
  feed,
  reasons,
} from './helpers.js';

type Input = Parameters<typeof create>[0];

function run(text: string, options: Partial<Input> = {}) {
  return feed(create({ type: 'nmea', ...options }), [ascii(text)]);
}

function byMetric(readings: readonly DriverReading[]): Record<string, DriverReading['value']> {
  return Object.fromEntries(readings.map((r) => [r.metric, r.value]));
}

// Classic receiver output (the NMEA 0183 examples every GPS manual and gpsd quote), CRLF-terminated.
const GGA = '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n';
const RMC = '$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n';
const VTG = '$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K*48\r\n';
const GSA = '$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39\r\n';
// The u-blox protocol specification's examples, with NMEA 2.3+ mode fields.
const UBLOX = [
  '$GPRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A*57',
  '$GPGGA,092725.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,*5B',
  '$GPGLL,4717.11364,N,00833.91565,E,092321.00,A,A*60',
].join('\r\n');

describe('nmea: sentences', () => {
  it('GGA gives position, altitude, fix quality, satellites and hdop', () => {
    const out = run(GGA);
    expect(out.frames).toBe(1);
    expect(out.errors).toEqual([]);
    const v = byMetric(out.readings);
    expect(v.position).toEqual({ lat: 48 + 7.038 / 60, lon: 11 + 31 / 60 });
    expect(v).toMatchObject({ altitude: 545.4, fix_quality: 1, satellites: 8, hdop: 0.9 });
    expect(out.readings.find((r) => r.metric === 'altitude')).toMatchObject({
      unit: 'm',
      tags: { talker: 'GP', sentence: 'GGA' },
    });
  });

  it('RMC gives position, speed and course, stamped with its date and time', () => {
    const out = run(RMC);
    const ts = Date.UTC(1994, 2, 23, 12, 35, 19);
    expect(out.readings.every((r) => r.ts === ts)).toBe(true);
    const v = byMetric(out.readings);
    expect(v.speed).toBeCloseTo(22.4 * 1.852, 9);
    expect(v.course).toBe(84.4);
    expect(v.position).toEqual({ lat: 48 + 7.038 / 60, lon: 11 + 31 / 60 });
  });

  it('VTG gives course and speed in the configured unit', () => {
    expect(byMetric(run(VTG).readings)).toEqual({ course: 54.7, speed: 10.2 });
    expect(byMetric(run(VTG, { speed_unit: 'knots' }).readings).speed).toBe(5.5);
    expect(byMetric(run(VTG, { speed_unit: 'm/s' }).readings).speed).toBeCloseTo(10.2 / 3.6, 9);
  });

  it('GSA gives fix type and the dilutions of precision', () => {
    expect(byMetric(run(GSA).readings)).toEqual({ fix_type: 3, pdop: 2.5, hdop: 1.3, vdop: 2.1 });
  });

  it('reads any talker: GN (multi-constellation), GL, GA, BD', () => {
    for (const talker of ['GN', 'GL', 'GA', 'BD']) {
      const out = run(encodeSentence(`${talker}VTG,054.7,T,034.4,M,005.5,N,010.2,K,A`));
      expect(out.readings.map((r) => r.tags)).toEqual([
        { talker, sentence: 'VTG' },
        { talker, sentence: 'VTG' },
      ]);
    }
  });

  it('GGA and GLL take the date of the last valid RMC', () => {
    const out = run(UBLOX + '\r\n');
    expect(out.errors).toEqual([]);
    expect(out.frames).toBe(3);
    const gga = out.readings.filter((r) => r.tags?.sentence === 'GGA');
    expect(gga[0]?.ts).toBe(Date.UTC(2002, 11, 9, 9, 27, 25));
    expect(gga.find((r) => r.metric === 'position')?.value).toEqual({
      lat: 47 + 17.11399 / 60,
      lon: 8 + 33.9159 / 60,
    });
    const gll = out.readings.find((r) => r.tags?.sentence === 'GLL');
    expect(gll).toMatchObject({ metric: 'position', ts: Date.UTC(2002, 11, 9, 9, 23, 21) });
  });

  it('moves a GGA just past midnight to the next day', () => {
    const text =
      encodeSentence('GPRMC,235959.50,A,4807.038,N,01131.000,E,0.0,,311224,,') +
      encodeSentence('GPGGA,000000.50,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,');
    const gga = run(text).readings.filter((r) => r.tags?.sentence === 'GGA');
    expect(gga[0]?.ts).toBe(Date.UTC(2025, 0, 1, 0, 0, 0, 500));
  });

  it('signs south latitudes and west longitudes', () => {
    const out = run(encodeSentence('GPGGA,101010,3345.1234,S,07012.5000,W,2,11,0.8,-12.0,M,,M,,'));
    expect(byMetric(out.readings).position).toEqual({ lat: -(33 + 45.1234 / 60), lon: -(70 + 12.5 / 60) });
    expect(byMetric(out.readings).altitude).toBe(-12);
  });

  it('leaves out position without a fix, unless told otherwise', () => {
    const noFix = '$GPGGA,,,,,,0,00,99.99,,,,,,*48\r\n';
    expect(run(noFix).readings.map((r) => r.metric)).toEqual(['fix_quality', 'satellites', 'hdop']);
    const warn = encodeSentence('GPRMC,123519,V,4807.038,N,01131.000,E,,,230394,,');
    expect(run(warn).readings).toEqual([]);
    expect(run(warn, { emit_invalid_fix: true }).readings.map((r) => r.metric)).toEqual(['position']);
  });

  it('emits only the configured sentences', () => {
    expect(
      new Set(run(GGA + RMC + VTG + GSA, { sentences: ['VTG'] }).readings.map((r) => r.tags?.sentence)),
    ).toEqual(new Set(['VTG']));
  });

  it('counts other valid sentences as frames without readings', () => {
    const gsv = '$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74\r\n';
    const out = run(gsv + encodeSentence('PUBX,00,081350.00,4717.113210,N'));
    expect(out).toEqual({ readings: [], errors: [], frames: 2 });
  });
});

describe('nmea: damaged input', () => {
  it('counts a bad checksum and a malformed checksum field', () => {
    const out = run(GGA.replace('545.4', '545.5') + GGA.replace('*47', '*4') + GGA);
    expect(reasons(out)).toEqual(['bad_checksum', 'bad_checksum']);
    expect(out.frames).toBe(1);
  });

  it('handles sentences without checksum per require_checksum', () => {
    const bare = '$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K\r\n';
    expect(reasons(run(bare))).toEqual(['missing_checksum']);
    expect(byMetric(run(bare, { require_checksum: false }).readings)).toEqual({ course: 54.7, speed: 10.2 });
  });

  it('resyncs at $ after garbage, a truncated sentence and line noise', () => {
    const text = '\u0000\u00ffjunk' + '$GPGGA,1235' + VTG + '$GPGSA,A,\u0007' + GSA;
    const out = run(text);
    expect(reasons(out)).toEqual(['garbage', 'truncated', 'garbage']);
    expect(out.frames).toBe(2);
  });

  it('counts malformed fields and short sentences', () => {
    const out = run(
      encodeSentence('GPGGA,123519,48x7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,') +
        encodeSentence('GPGGA,123519,4807.038,N') +
        encodeSentence('GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,310294,003.1,W') +
        encodeSentence('gpgga,1'),
    );
    expect(reasons(out)).toEqual(['bad_field', 'bad_sentence', 'bad_field', 'bad_sentence']);
  });

  it('drops an over-long sentence without buffering it', () => {
    const out = run('$GPTXT,' + 'A'.repeat(10_000) + '\r\n' + GGA, { max_sentence_bytes: 82 });
    expect(reasons(out)).toEqual(['line_too_long']);
    expect(out.frames).toBe(1);
  });
});

const lat = fc.double({ min: -89.999, max: 89.999, noNaN: true });
const lon = fc.double({ min: -179.999, max: 179.999, noNaN: true });

function angle(value: number, degDigits: number, pos: string, neg: string): string {
  const abs = Math.abs(value);
  const deg = Math.floor(abs);
  const minutes = ((abs - deg) * 60).toFixed(5).padStart(8, '0');
  return `${String(deg).padStart(degDigits, '0')}${minutes},${value < 0 ? neg : pos}`;
}

describe('nmea: properties', () => {
  it('never throws on random bytes', () => {
    assertRobustAgainstRandomBytes(() => create({ type: 'nmea' }));
  });

  it('round-trips a random GGA fix', () => {
    fc.assert(
      fc.property(
        lat,
        lon,
        fc.integer({ min: -400, max: 9000 }),
        fc.integer({ min: 1, max: 8 }),
        (la, lo, alt, q) => {
          const body = `GNGGA,120000.00,${angle(la, 2, 'N', 'S')},${angle(lo, 3, 'E', 'W')},${q},12,0.7,${(alt + 0.25).toFixed(2)},M,,M,,`;
          const v = byMetric(run(encodeSentence(body)).readings);
          const pos = v.position as { lat: number; lon: number };
          // 5 decimals of minutes: 1e-5/60 degree, about 2 cm.
          expect(Math.abs(pos.lat - la)).toBeLessThan(1e-6);
          expect(Math.abs(pos.lon - lo)).toBeLessThan(1e-6);
          expect(v).toMatchObject({ altitude: alt + 0.25, fix_quality: q });
        },
      ),
    );
  });

  it('verifies checksums: any single changed character is caught', () => {
    fc.assert(
      fc.property(fc.nat(GGA.length - 6), fc.integer({ min: 0x20, max: 0x7e }), (at, code) => {
        const i = at + 1; // keep the `$`
        const ch = String.fromCharCode(code);
        fc.pre(GGA[i] !== ch && ch !== '$' && ch !== '*' && GGA[i] !== '*');
        const out = run(GGA.slice(0, i) + ch + GGA.slice(i + 1));
        expect(out.readings).toEqual([]);
      }),
    );
  });

  it('gives the same result however the stream is chunked, garbage included', () => {
    const piece = fc.oneof(
      fc.constantFrom(GGA, RMC, VTG, GSA, UBLOX, '$GPGGA,12', '\r\n', '$$'),
      fc.string({ maxLength: 20 }),
      fc.uint8Array({ maxLength: 20 }).map((b) => String.fromCharCode(...b)),
    );
    const data = fc
      .array(piece, { maxLength: 10 })
      .map((ps) => Uint8Array.from(ps.join(''), (c) => c.charCodeAt(0) & 0xff));
    assertSplitInvariant(() => create({ type: 'nmea', max_sentence_bytes: 64 }), data);
  });

  it('reads the fixtures identically one byte at a time', () => {
    const out = assertBytewiseSameAsWhole(
      () => create({ type: 'nmea' }),
      ascii('xx' + RMC + GGA + VTG + GSA + UBLOX + '\n'),
    );
    expect(out.frames).toBe(7);
    expect(checksum('GPVTG,054.7,T,034.4,M,005.5,N,010.2,K')).toBe(0x48);
  });
});
