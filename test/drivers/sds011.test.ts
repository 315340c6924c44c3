import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { create, encodeFrame } from '../../drivers/sds011.js';
import {
  assertBytewiseSameAsWhole,
  assertRobustAgainstRandomBytes,
  assertSplitInvariant,
  concat,
  feed,
  hex,
  reasons,
} from './helpers.js';

// The SDS011 datasheet's example: PM2.5 = 0x04D4 / 10 = 123.6, PM10 = 0x0A3A / 10 = 261.8, id A160.
const DATASHEET = hex('AA C0 D4 04 3A 0A A1 60 1D AB');

describe('sds011', () => {
  it('reads PM2.5 and PM10 in ug/m3 from the datasheet frame', () => {
    const out = feed(create({ type: 'sds011' }), [DATASHEET]);
    expect(out).toEqual({
      frames: 1,
      errors: [],
      readings: [
        { metric: 'pm2_5', value: 123.6, unit: 'ug/m3', tags: { sensor_id: 'a160' } },
        { metric: 'pm10', value: 261.8, unit: 'ug/m3', tags: { sensor_id: 'a160' } },
      ],
    });
  });

  it('counts a bad checksum, a bad tail and garbage, then resyncs', () => {
    const badSum = DATASHEET.slice();
    badSum[8] = 0x1e;
    const badTail = DATASHEET.slice();
    badTail[9] = 0xac;
    const out = feed(create({ type: 'sds011' }), [concat(hex('01 02 AA'), badSum, badTail, DATASHEET)]);
    expect(reasons(out)).toEqual(['garbage', 'bad_checksum', 'bad_frame']);
    expect(out.frames).toBe(1);
  });

  it('round-trips random frames', () => {
    const u16 = fc.integer({ min: 0, max: 0xffff });
    fc.assert(
      fc.property(u16, u16, u16, (pm25, pm10, id) => {
        const out = feed(create({ type: 'sds011' }), [encodeFrame(pm25, pm10, id)]);
        expect(out.readings.map((r) => r.value)).toEqual([pm25 / 10, pm10 / 10]);
        expect(out.readings[0]?.tags?.sensor_id).toBe(id.toString(16).padStart(4, '0'));
      }),
    );
  });

  it('never throws on random bytes, and chunking never changes the result', () => {
    assertRobustAgainstRandomBytes(() => create({ type: 'sds011' }));
    const frame = fc
      .tuple(fc.nat(0xffff), fc.nat(0xffff), fc.nat(0xffff))
      .map(([a, b, c]) => encodeFrame(a, b, c));
    const stream = fc
      .array(fc.oneof(frame, fc.uint8Array({ maxLength: 16 }), fc.constant(hex('AA C0 AA'))), {
        maxLength: 10,
      })
      .map((parts) => concat(...parts));
    assertSplitInvariant(() => create({ type: 'sds011' }), stream);
    assertBytewiseSameAsWhole(
      () => create({ type: 'sds011' }),
      concat(hex('AA AA C0'), DATASHEET, DATASHEET),
    );
  });
});
