// The `nmea` driver: NMEA 0183 sentences from a GPS receiver to position, altitude, speed, fix readings.
import type { z } from 'zod';
import type { Driver, DriverError, DriverOutput, DriverReading } from '../driver.js';
import { parseOptions } from '../shared/options.js';
import { schema } from './schema.js';
import { parseSentence } from './sentences.js';
import type { NmeaClock } from './sentences.js';

export { schema } from './schema.js';
export type { NmeaOptions } from './schema.js';

export const type = 'nmea';
export const description = 'NMEA 0183 from GPS receivers: GGA, RMC, VTG, GSA, GLL; checksum verified.';

const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;
const CHECKSUM = /^[0-9A-Fa-f]{2}$/;
const TALKER_ADDRESS = /^([A-Z]{2})([A-Z]{3})$/;
const PROPRIETARY_ADDRESS = /^P[A-Z0-9]+$/;

/** NMEA 0183 checksum: XOR of every character between `$` and `*`, both excluded. */
export function checksum(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum ^= body.charCodeAt(i);
  return sum;
}

/** `$<body>*hh\r\n`, e.g. for fixtures and simulators. */
export function encodeSentence(body: string): string {
  return `$${body}*${checksum(body).toString(16).toUpperCase().padStart(2, '0')}\r\n`;
}

export function create(options: z.input<typeof schema>): Driver {
  const opts = parseOptions(type, schema, options);
  // Room for the sentence after `$`; never grows: an over-long sentence is dropped, not buffered.
  const buf = new Uint8Array(opts.max_sentence_bytes - 1);
  let len = 0;
  let inSentence = false;
  /** True while skipping a run of bytes outside any sentence, so that the run is counted once. */
  let skipping = false;
  let clock: NmeaClock = {};

  function sentence(
    text: string,
    out: { readings: DriverReading[]; errors: DriverError[]; frames: number },
  ): void {
    const star = text.lastIndexOf('*');
    let body = text;
    if (star >= 0) {
      // NMEA 0183 checksum field `*hh`, XOR of the characters between `$` and `*`.
      body = text.slice(0, star);
      const field = text.slice(star + 1);
      if (!CHECKSUM.test(field) || parseInt(field, 16) !== checksum(body)) {
        out.errors.push({ reason: 'bad_checksum', detail: `$${text.slice(0, 96)}` });
        return;
      }
    } else if (opts.require_checksum) {
      out.errors.push({ reason: 'missing_checksum', detail: `$${text.slice(0, 96)}` });
      return;
    }
    const values = body.split(',');
    const address = values[0] ?? '';
    if (PROPRIETARY_ADDRESS.test(address)) {
      out.frames++; // NMEA 0183 proprietary sentence ($P + manufacturer code): valid, not ours to read
      return;
    }
    // NMEA 0183 address field: two-character talker id (GP, GN, GL, GA, GB, BD, ...) + sentence formatter.
    const m = TALKER_ADDRESS.exec(address);
    if (m === null) {
      out.errors.push({ reason: 'bad_sentence', detail: `address field "${address.slice(0, 16)}"` });
      return;
    }
    const result = parseSentence(m[1] ?? '', m[2] ?? '', values, opts, clock);
    if ('reason' in result) {
      out.errors.push({ reason: result.reason, detail: `${address} ${result.detail}` });
      return;
    }
    out.frames++;
    out.readings.push(...result.readings);
  }

  return {
    push(chunk: Uint8Array): DriverOutput {
      const out = { readings: [] as DriverReading[], errors: [] as DriverError[], frames: 0 };
      for (const b of chunk) {
        if (b === DOLLAR) {
          // Every sentence starts with `$`: it is where a corrupted stream resynchronises.
          if (inSentence) out.errors.push({ reason: 'truncated', detail: 'sentence cut short by a new `$`' });
          inSentence = true;
          skipping = false;
          len = 0;
        } else if (!inSentence) {
          if (b !== CR && b !== LF && !skipping) {
            out.errors.push({
              reason: 'garbage',
              detail: 'bytes outside a sentence skipped up to the next `$`',
            });
            skipping = true;
          }
        } else if (b === CR || b === LF) {
          inSentence = false;
          sentence(String.fromCharCode(...buf.subarray(0, len)), out);
        } else if (b < 0x20 || b > 0x7e) {
          // NMEA 0183 sentences are printable ASCII: a control or 8-bit byte means line noise.
          out.errors.push({ reason: 'garbage', detail: `byte 0x${b.toString(16)} inside a sentence` });
          inSentence = false;
          skipping = true;
        } else if (len === buf.length) {
          out.errors.push({
            reason: 'line_too_long',
            detail: `sentence over ${opts.max_sentence_bytes} bytes`,
          });
          inSentence = false;
          skipping = true;
        } else {
          buf[len++] = b;
        }
      }
      return out;
    },
    reset(): void {
      len = 0;
      inSentence = false;
      skipping = false;
      clock = {};
    },
  };
}
