// The `pms5003` driver: Plantower PMS5003 particulate sensor frames (active mode) to PM1.0/PM2.5/PM10.
import { z } from 'zod';
import type { Driver, DriverReading } from './driver.js';
import { frameDriver } from './shared/frame-scanner.js';
import type { FrameCheck } from './shared/frame-scanner.js';
import { parseOptions } from './shared/options.js';

export const type = 'pms5003';
export const description = 'Plantower PMS5003: 32-byte frames, PM1.0/PM2.5/PM10 in ug/m3.';

export const schema = z.strictObject({
  type: z.literal('pms5003'),
  /** `atmospheric`: data 4-6 (atmospheric environment); `standard`: data 1-3 (CF=1, standard particle). */
  concentration: z.enum(['atmospheric', 'standard']).default('atmospheric'),
  /** Also emit the particle counts per 0.1 L of air (data 7-12). */
  particle_counts: z.boolean().default(false),
});

export type Pms5003Options = z.output<typeof schema>;

const FRAME_BYTES = 32;
/** PMS5003 manual, "Appendix I": start characters 0x42 0x4D. */
const SYNC = [0x42, 0x4d];
/** Frame length field: 2 x 13 data + 2 check bytes. */
const LENGTH = 28;
const COUNT_METRICS = [
  'particles_0_3um',
  'particles_0_5um',
  'particles_1_0um',
  'particles_2_5um',
  'particles_5_0um',
  'particles_10um',
];

function checkFrame(f: Uint8Array): FrameCheck {
  if (f.length < 4) return 'more';
  const length = ((f[2] ?? 0) << 8) | (f[3] ?? 0); // PMS5003 frame length: bytes after this field
  if (length !== LENGTH)
    return { reason: 'bad_length', detail: `frame length ${length}, expected ${LENGTH}` };
  if (f.length < FRAME_BYTES) return 'more';
  // PMS5003 check code: 16-bit sum of every byte from the start characters through data 13.
  let sum = 0;
  for (let i = 0; i < FRAME_BYTES - 2; i++) sum += f[i] ?? 0;
  const check = ((f[30] ?? 0) << 8) | (f[31] ?? 0);
  return (sum & 0xffff) === check
    ? 'ok'
    : { reason: 'bad_checksum', detail: `sum ${sum & 0xffff}, frame says ${check}` };
}

/** Data words 1-13 of a checked frame, big-endian. */
export function decodeFrame(frame: Uint8Array): number[] {
  const words: number[] = [];
  for (let i = 0; i < 13; i++) words.push(((frame[4 + 2 * i] ?? 0) << 8) | (frame[5 + 2 * i] ?? 0));
  return words;
}

/** A frame carrying data words 1-13 (missing words are 0), for fixtures and simulators. */
export function encodeFrame(words: readonly number[]): Uint8Array {
  const f = new Uint8Array(FRAME_BYTES);
  f.set([...SYNC, 0, LENGTH]);
  for (let i = 0; i < 13; i++) {
    const w = words[i] ?? 0;
    f[4 + 2 * i] = (w >> 8) & 0xff;
    f[5 + 2 * i] = w & 0xff;
  }
  let sum = 0;
  for (let i = 0; i < FRAME_BYTES - 2; i++) sum += f[i] ?? 0;
  f[30] = (sum >> 8) & 0xff;
  f[31] = sum & 0xff;
  return f;
}

export function create(options: z.input<typeof schema>): Driver {
  const opts = parseOptions(type, schema, options);
  // PMS5003 data 1-3: PM1.0/PM2.5/PM10 CF=1 standard particle; data 4-6: the same under atmospheric environment.
  const first = opts.concentration === 'standard' ? 0 : 3;
  const unit = 'ug/m3';
  return frameDriver(SYNC, FRAME_BYTES, checkFrame, (frame) => {
    const w = decodeFrame(frame);
    const readings: DriverReading[] = [
      { metric: 'pm1_0', value: w[first] ?? 0, unit },
      { metric: 'pm2_5', value: w[first + 1] ?? 0, unit },
      { metric: 'pm10', value: w[first + 2] ?? 0, unit },
    ];
    if (opts.particle_counts) {
      // PMS5003 data 7-12: particles beyond 0.3/0.5/1.0/2.5/5.0/10 um in 0.1 L of air.
      COUNT_METRICS.forEach((metric, i) =>
        readings.push({ metric, value: w[6 + i] ?? 0, unit: 'count/0.1L' }),
      );
    }
    return readings;
  });
}
