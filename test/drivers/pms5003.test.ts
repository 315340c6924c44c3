import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { create, decodeFrame, encodeFrame } from '../../drivers/pms5003.js';
import {
  assertBytewiseSameAsWhole,
  assertRobustAgainstRandomBytes,
  assertSplitInvariant,
  concat,
  feed,
  hex,
  reasons,
} from './helpers.js';

// A PMS5003 in clean air: PM all 0, a few particles counted, reserved word 0x9700; check code 0x0170.
const CLEAN_AIR = hex('42 4D 00 1C 0000 0000 0000 0000 0000 0000 0024 0007 0001 0001 0001 0000 9700 0170');
// Indoors: CF=1 and atmospheric both 5/8/9 ug/m3; counts 948/299/60/6/2/2; check code 0x0297.
const INDOOR = hex('42 4D 00 1C 0005 0008 0009 0005 0008 0009 03B4 012B 003C 0006 0002 0002 9700 0297');

const words13 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 13, maxLength: 13 });

describe('pms5003', () => {
  it('reads PM1.0, PM2.5 and PM10 in ug/m3 from real frames', () => {
    const out = feed(create({ type: 'pms5003' }), [concat(CLEAN_AIR, INDOOR)]);
    expect(out.frames).toBe(2);
    expect(out.readings.slice(3)).toEqual([
      { metric: 'pm1_0', value: 5, unit: 'ug/m3' },
      { metric: 'pm2_5', value: 8, unit: 'ug/m3' },
      { metric: 'pm10', value: 9, unit: 'ug/m3' },
    ]);
  });

  it('picks standard (CF=1) or atmospheric values and optional particle counts', () => {
    const frame = encodeFrame([1, 2, 3, 11, 12, 13, 300, 50, 10, 4, 2, 1, 0]);
    const std = feed(create({ type: 'pms5003', concentration: 'standard' }), [frame]);
    expect(std.readings.map((r) => r.value)).toEqual([1, 2, 3]);
    const all = feed(create({ type: 'pms5003', particle_counts: true }), [CLEAN_AIR]);
    expect(all.readings.slice(3).map((r) => [r.metric, r.value, r.unit])).toEqual([
      ['particles_0_3um', 36, 'count/0.1L'],
      ['particles_0_5um', 7, 'count/0.1L'],
      ['particles_1_0um', 1, 'count/0.1L'],
      ['particles_2_5um', 1, 'count/0.1L'],
      ['particles_5_0um', 1, 'count/0.1L'],
      ['particles_10um', 0, 'count/0.1L'],
    ]);
  });

  it('counts a bad checksum, a bad length and garbage, and resyncs on the next frame', () => {
    const bad = INDOOR.slice();
    bad[7] = 0x09;
    const wrongLength = hex('42 4D 00 14 0001');
    const out = feed(create({ type: 'pms5003' }), [concat(hex('00 42 11'), bad, wrongLength, CLEAN_AIR)]);
    expect(reasons(out)).toEqual(['garbage', 'bad_checksum', 'bad_length']);
    expect(out.frames).toBe(1);
    expect(out.readings.map((r) => r.value)).toEqual([0, 0, 0]);
  });

  it('finds a frame that starts inside a corrupt one', () => {
    const cut = INDOOR.subarray(0, 20);
    const out = feed(create({ type: 'pms5003' }), [concat(cut, INDOOR)]);
    expect(out.frames).toBe(1);
    expect(reasons(out)).toEqual(['bad_checksum']);
  });

  it('round-trips random frames', () => {
    fc.assert(
      fc.property(words13, (w) => {
        const frame = encodeFrame(w);
        expect(decodeFrame(frame)).toEqual(w);
        const out = feed(create({ type: 'pms5003', particle_counts: true }), [frame]);
        expect(out.readings.map((r) => r.value)).toEqual(w.slice(3, 12));
      }),
    );
  });

  it('never throws on random bytes, and chunking never changes the result', () => {
    assertRobustAgainstRandomBytes(() => create({ type: 'pms5003' }));
    const stream = fc
      .array(
        fc.oneof(words13.map(encodeFrame), fc.uint8Array({ maxLength: 40 }), fc.constant(hex('42 4D 00 1C'))),
        {
          maxLength: 8,
        },
      )
      .map((parts) => concat(...parts));
    assertSplitInvariant(() => create({ type: 'pms5003' }), stream);
    assertBytewiseSameAsWhole(() => create({ type: 'pms5003' }), concat(hex('42 42 4D'), CLEAN_AIR, INDOOR));
  });

  it('forgets a partial frame on reset', () => {
    const driver = create({ type: 'pms5003' });
    driver.push(INDOOR.subarray(0, 10), 0);
    driver.reset();
    expect(feed(driver, [CLEAN_AIR]).frames).toBe(1);
  });
});
