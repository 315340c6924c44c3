// The `sds011` driver: Nova Fitness SDS011 particulate sensor data frames to PM2.5/PM10.
import { z } from 'zod';
import type { Driver } from './driver.js';
import { frameDriver } from './shared/frame-scanner.js';
import type { FrameCheck } from './shared/frame-scanner.js';
import { parseOptions } from './shared/options.js';

export const type = 'sds011';
export const description = 'Nova SDS011: 10-byte frames, PM2.5/PM10 in ug/m3.';

export const schema = z.strictObject({
  type: z.literal('sds011'),
});

export type Sds011Options = z.output<typeof schema>;

const FRAME_BYTES = 10;
/** SDS011 datasheet: message header 0xAA, command 0xC0 (data report), message tail 0xAB. */
const SYNC = [0xaa, 0xc0];
const TAIL = 0xab;

function checksum(f: Uint8Array): number {
  // SDS011 check-sum: low 8 bits of the sum of data bytes 1-6 (frame bytes 2-7).
  let sum = 0;
  for (let i = 2; i < 8; i++) sum += f[i] ?? 0;
  return sum & 0xff;
}

function checkFrame(f: Uint8Array): FrameCheck {
  if (f.length < FRAME_BYTES) return 'more';
  if (f[9] !== TAIL)
    return { reason: 'bad_frame', detail: `tail 0x${(f[9] ?? 0).toString(16)}, expected 0xab` };
  const sum = checksum(f);
  return sum === f[8] ? 'ok' : { reason: 'bad_checksum', detail: `sum ${sum}, frame says ${f[8]}` };
}

/** A data frame: PM values in tenths of ug/m3 (0..65535), the 16-bit sensor id; for fixtures and simulators. */
export function encodeFrame(pm25Tenths: number, pm10Tenths: number, id: number): Uint8Array {
  const f = Uint8Array.of(
    ...SYNC,
    pm25Tenths & 0xff,
    pm25Tenths >> 8,
    pm10Tenths & 0xff,
    pm10Tenths >> 8,
    id >> 8,
    id & 0xff,
    0,
    TAIL,
  );
  f[8] = checksum(f);
  return f;
}

export function create(options: z.input<typeof schema>): Driver {
  parseOptions(type, schema, options);
  return frameDriver(SYNC, FRAME_BYTES, checkFrame, (f) => {
    // SDS011 data bytes 1-2: PM2.5 low, high; 3-4: PM10 low, high; in tenths of ug/m3. 5-6: device id.
    const pm25 = (((f[3] ?? 0) << 8) | (f[2] ?? 0)) / 10;
    const pm10 = (((f[5] ?? 0) << 8) | (f[4] ?? 0)) / 10;
    const tags = { sensor_id: (((f[6] ?? 0) << 8) | (f[7] ?? 0)).toString(16).padStart(4, '0') };
    return [
      { metric: 'pm2_5', value: pm25, unit: 'ug/m3', tags },
      { metric: 'pm10', value: pm10, unit: 'ug/m3', tags },
    ];
  });
}
