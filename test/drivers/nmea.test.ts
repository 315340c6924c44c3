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

// From receivers' logs in the field, each with its own checksum.
// ST Teseo: every sentence starts with `$$`.
const TESEO = [
  '$$GPGGA,092751.000,4537.3346,N,00908.4453,E,1,09,0.9,193.6,M,47.8,M,,*52',
  '$$GPRMC,092751.000,A,4537.3346,N,00908.4453,E,0.02,31.66,280511,,,A*59',
].join('\r\n');
// MediaTek before a fix: the placeholder latitude 89°60' (minutes 60) in GGA and RMC.
const MTK_NO_FIX = [
  '$GPGGA,235942.800,8960.0000,N,00000.0000,E,0,0,,137.0,M,13.0,M,,*40',
  '$GPRMC,235942.800,V,8960.0000,N,00000.0000,E,0.00,0.00,060180,,,N*7D',
].join('\r\n');
// One epoch of a multi-constellation receiver: VTG prints km/h with one digit, knots with two.
const EPOCH_RMC = '$GNRMC,101530.00,A,5231.12345,N,01323.54321,E,0.24,,011226,,,A*5E';
const EPOCH_VTG = '$GNVTG,,T,,M,0.24,N,0.4,K,A*0F';
// A receiver in simulation mode: GGA fix quality 8, RMC mode indicator S.
const SIM_GGA = '$GPGGA,120000.000,3723.2475,N,12158.3416,W,8,07,1.0,9.0,M,,M,,*5B';
const SIM_RMC = '$GPRMC,120000.000,A,3723.2475,N,12158.3416,W,0.13,309.62,120598,,,S*68';
// Proprietary sentences longer than the default 128 bytes: MediaTek channel status, Broadcom status.
const PMTKCHN =
  '$PMTKCHN,03402,06362,09292,12412,17332,19221,22382,25302,31001,32181,01000,02000,04001,05000,07000,' +
  '08000,10000,11000,13000,14000,15000,16000,18000,20000,21000,23000,24000,26000,27000,28000,29000,30000*4A';
const PGLOR =
  '$PGLOR,2,PFM,HAL,-,0,0,0,0,RF,-,-180,0.0,0,RTC,,P,STO,P,LTO,F,SVR,0,0,NET,0,PWR,1,SLP,0,DTMS,1000,' +
  'CFG,0x12,LNA,1,AGC,43,BB,0,TCXO,26.000000,OFS,-12.3*22';
const EPOCH_GGA = '$GNGGA,101530.00,5231.12345,N,01323.54321,E,1,12,0.80,34.5,M,44.9,M,,*72';

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

  it('VTG gives course and speed in the configured unit, from its knots field', () => {
    expect(byMetric(run(VTG).readings)).toEqual({ course: 54.7, speed: 5.5 * 1.852 });
    expect(byMetric(run(VTG, { speed_unit: 'knots' }).readings).speed).toBe(5.5);
    expect(byMetric(run(VTG, { speed_unit: 'm/s' }).readings).speed).toBeCloseTo((5.5 * 1.852) / 3.6, 9);
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

  it('dates GGA from RMC even when RMC gives no readings', () => {
    const out = run(UBLOX + '\r\n', { sentences: ['GGA'] });
    expect(out.readings.map((r) => r.tags?.sentence)).toEqual(['GGA', 'GGA', 'GGA', 'GGA', 'GGA']);
    expect(out.readings[0]?.ts).toBe(Date.UTC(2002, 11, 9, 9, 27, 25));
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

describe("nmea: receivers' quirks", () => {
  it("takes VTG speed from knots, so that it agrees with the same epoch's RMC", () => {
    for (const speed_unit of ['km/h', 'm/s', 'knots'] as const) {
      const out = run(`${EPOCH_RMC}\r\n${EPOCH_VTG}\r\n`, { speed_unit });
      expect(out.errors).toEqual([]);
      const [rmc, vtg] = out.readings.filter((r) => r.metric === 'speed');
      expect(vtg).toMatchObject({ unit: speed_unit, tags: { sentence: 'VTG' } });
      expect(vtg?.value).toBe(rmc?.value);
    }
    expect(byMetric(run(EPOCH_VTG + '\r\n').readings).speed).toBeCloseTo(0.24 * 1.852, 12); // not 0.4
    // No knots: the km/h field it is.
    expect(byMetric(run(encodeSentence('GNVTG,,T,,M,,N,0.4,K,A')).readings).speed).toBe(0.4);
  });

  it('marks GGA fix quality 8 (simulation) as simulated, not as a fix', () => {
    const out = run(SIM_GGA + '\r\n');
    expect(out.errors).toEqual([]);
    expect(byMetric(out.readings)).toEqual({ fix_quality: 8, satellites: 7, hdop: 1 });
    expect(out.readings.every((r) => r.tags?.simulated === 'true')).toBe(true);
    const all = run(SIM_GGA + '\r\n', { emit_invalid_fix: true }).readings;
    expect(all.find((r) => r.metric === 'position')).toMatchObject({
      value: { lat: 37 + 23.2475 / 60, lon: -(121 + 58.3416 / 60) },
      tags: { talker: 'GP', sentence: 'GGA', simulated: 'true' },
    });
    // A real fix carries no such tag.
    expect(run(GGA).readings.some((r) => r.tags?.simulated !== undefined)).toBe(false);
  });

  it('marks RMC mode S (simulator) as simulated, not as a fix', () => {
    expect(run(SIM_RMC + '\r\n')).toEqual({ readings: [], errors: [], frames: 1 });
    const all = run(SIM_RMC + '\r\n', { emit_invalid_fix: true }).readings;
    expect(all.map((r) => r.metric)).toEqual(['position', 'speed', 'course']);
    expect(all.every((r) => r.tags?.simulated === 'true')).toBe(true);
  });

  it('reads the doubled `$$` start of ST Teseo receivers without counting truncation', () => {
    const out = run(TESEO + '\r\n');
    expect(out.errors).toEqual([]);
    expect(out.frames).toBe(2);
    expect(byMetric(out.readings)).toMatchObject({ fix_quality: 1, satellites: 9, speed: 0.02 * 1.852 });
    // A `$` after the start of a sentence still cuts it short.
    expect(reasons(run('$GPGGA,09$' + GGA))).toEqual(['truncated']);
  });

  it('drops only the bad field of a MediaTek no-fix placeholder latitude, and counts it', () => {
    const out = run(MTK_NO_FIX + '\r\n');
    expect(out.frames).toBe(2);
    expect(out.errors).toEqual([
      { reason: 'bad_field', detail: 'GPGGA field 2: "8960.0000"' },
      { reason: 'bad_field', detail: 'GPRMC field 3: "8960.0000"' },
    ]);
    // The fix quality and satellite count survive; no fix, so no position either way.
    expect(byMetric(out.readings)).toEqual({ fix_quality: 0, satellites: 0 });
    // With a fix, a bad field costs its own reading only: here the altitude.
    const fix = run(encodeSentence('GPGGA,092751.000,4537.3346,N,00908.4453,E,1,09,0.9,19x.6,M,47.8,M,,'));
    expect(reasons(fix)).toEqual(['bad_field']);
    expect(Object.keys(byMetric(fix.readings))).toEqual(['fix_quality', 'satellites', 'hdop', 'position']);
  });

  it('skips proprietary sentences longer than max_sentence_bytes as valid frames', () => {
    expect(PMTKCHN.length).toBeGreaterThan(128);
    expect(PGLOR.length).toBeGreaterThan(128);
    const out = run([PMTKCHN, PGLOR, EPOCH_GGA, ''].join('\r\n'));
    expect(out.errors).toEqual([]);
    expect(out.frames).toBe(3);
    expect(byMetric(out.readings)).toMatchObject({ fix_quality: 1, satellites: 12 });
    // Still checksum-verified, on the fly.
    const damaged = run(PGLOR.replace('AGC,43', 'AGC,44') + '\r\n' + PMTKCHN.slice(0, -3) + '\r\n');
    expect(reasons(damaged)).toEqual(['bad_checksum', 'missing_checksum']);
    // Any talker sentence that is not read may be long too (GSV here is not read at all).
    const gsv = encodeSentence(
      'GPGSV,1,1,40,' + Array.from({ length: 40 }, (_, i) => `${i + 1},45,180,40`).join(','),
    );
    expect(run(gsv)).toEqual({ readings: [], errors: [], frames: 1 });
  });

  it('still counts a run without an end of line as line_too_long, in bounded memory', () => {
    const runaway = '$PGLOR,0,' + 'A'.repeat(40_000);
    const out = run(runaway + '\r\n' + EPOCH_GGA + '\r\n');
    expect(reasons(out)).toEqual(['line_too_long']);
    expect(out.errors[0]?.detail).toBe('sentence over 16384 bytes');
    expect(out.frames).toBe(1);
    // A sentence cut short by the next `$` is truncated, long or not.
    expect(reasons(run(PGLOR.slice(0, 140) + EPOCH_GGA + '\r\n'))).toEqual(['truncated']);
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
    expect(byMetric(run(bare, { require_checksum: false }).readings)).toEqual({
      course: 54.7,
      speed: 5.5 * 1.852,
    });
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

  it('drops an over-long sentence it reads without buffering it', () => {
    const out = run('$GPGGA,' + '1'.repeat(10_000) + '\r\n' + GGA, { max_sentence_bytes: 82 });
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
        fc.integer({ min: 1, max: 7 }), // 8 is simulation, not a fix
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
      fc.constantFrom(GGA, RMC, VTG, GSA, UBLOX, TESEO, PGLOR, PMTKCHN, '$GPGGA,12', '\r\n', '$$'),
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
      ascii(
        'xx' + RMC + GGA + VTG + GSA + UBLOX + '\n' + [TESEO, PMTKCHN, PGLOR, MTK_NO_FIX, ''].join('\r\n'),
      ),
    );
    expect(out.frames).toBe(13);
    expect(checksum('GPVTG,054.7,T,034.4,M,005.5,N,010.2,K')).toBe(0x48);
  });
});
