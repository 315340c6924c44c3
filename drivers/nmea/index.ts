// The `nmea` driver: NMEA 0183 sentences from a GPS receiver to position, altitude, speed, fix readings.
import type { z } from 'zod';
import type { Driver, DriverError, DriverOutput, DriverReading } from '../driver.js';
import { parseOptions } from '../shared/options.js';
import { schema } from './schema.js';
import { handles, parseSentence } from './sentences.js';
import type { NmeaClock } from './sentences.js';

export { schema } from './schema.js';
export type { NmeaOptions } from './schema.js';

export const type = 'nmea';
export const description = 'NMEA 0183 from GPS receivers: GGA, RMC, VTG, GSA, GLL; checksum verified.';

const DOLLAR = 0x24;
const STAR = 0x2a;
const COMMA = 0x2c;
const CR = 0x0d;
const LF = 0x0a;
/**
 * A sentence this driver does not read (proprietary `$PGLOR`, `$PMTKCHN`, GSV, TXT, ...) is not buffered: it is
 * checksum-verified on the fly, so it may be longer than `max_sentence_bytes` ($PGLOR and $PMTKCHN often
 * are). Past this many bytes without an end of line it is taken for garbage (a bound on classification,
 * not on memory).
 */
const MAX_SKIPPED_SENTENCE_BYTES = 16 * 1024;
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
  /**
   * The running checksum of the sentence being read, for one that outgrows `buf` and is skipped unread:
   * XOR of every character after `$`, its value before the last `*`, and the characters after that `*`.
   */
  let xor = 0;
  let xorAtStar: number | undefined;
  let afterStar = '';
  /** Bytes of an unread sentence skipped past `buf` (0: the sentence is buffered as usual). */
  let skipped = 0;

  function startSentence(): void {
    inSentence = true;
    skipping = false;
    len = 0;
    xor = 0;
    xorAtStar = undefined;
    afterStar = '';
    skipped = 0;
  }

  /** The address field (`GPGGA`, `PGLOR`) of the buffered start of the sentence, if complete. */
  function bufferedAddress(): string | undefined {
    const comma = buf.subarray(0, len).indexOf(COMMA);
    return comma < 0 ? undefined : String.fromCharCode(...buf.subarray(0, comma));
  }

  /** A sentence that outgrew `buf` may be skipped unread when it is one this driver does not read. */
  function skippable(): boolean {
    const address = bufferedAddress();
    if (address === undefined) return false;
    if (PROPRIETARY_ADDRESS.test(address)) return true;
    const m = TALKER_ADDRESS.exec(address);
    return m !== null && !handles(m[2] ?? '');
  }

  /** End of line of a skipped sentence: valid (a frame) when its running checksum matches. */
  function skippedSentence(out: { errors: DriverError[]; frames: number }): void {
    const head = `$${String.fromCharCode(...buf.subarray(0, Math.min(len, 96)))}... (${len + skipped} bytes)`;
    if (xorAtStar !== undefined) {
      // NMEA 0183 checksum field `*hh`, XOR of the characters between `$` and `*`.
      if (CHECKSUM.test(afterStar) && parseInt(afterStar, 16) === xorAtStar) out.frames++;
      else out.errors.push({ reason: 'bad_checksum', detail: head });
    } else if (opts.require_checksum) {
      out.errors.push({ reason: 'missing_checksum', detail: head });
    } else out.frames++;
  }

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
    // A malformed field (MediaTek's no-fix latitude `8960.0000`) costs its own reading, not the sentence's.
    for (const bad of result.badFields) out.errors.push({ reason: 'bad_field', detail: `${address} ${bad}` });
  }

  return {
    push(chunk: Uint8Array): DriverOutput {
      const out = { readings: [] as DriverReading[], errors: [] as DriverError[], frames: 0 };
      for (const b of chunk) {
        if (b === DOLLAR) {
          // ST Teseo receivers start every sentence with `$$`: a `$` right after `$` is the same start.
          if (inSentence && len === 0) continue;
          // Every sentence starts with `$`: it is where a corrupted stream resynchronises.
          if (inSentence) out.errors.push({ reason: 'truncated', detail: 'sentence cut short by a new `$`' });
          startSentence();
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
          if (skipped > 0) skippedSentence(out);
          else sentence(String.fromCharCode(...buf.subarray(0, len)), out);
        } else if (b < 0x20 || b > 0x7e) {
          // NMEA 0183 sentences are printable ASCII: a control or 8-bit byte means line noise.
          out.errors.push({ reason: 'garbage', detail: `byte 0x${b.toString(16)} inside a sentence` });
          inSentence = false;
          skipping = true;
        } else if (
          len === buf.length &&
          (skipped > 0 ? skipped + len >= MAX_SKIPPED_SENTENCE_BYTES : !skippable())
        ) {
          const limit = skipped > 0 ? MAX_SKIPPED_SENTENCE_BYTES : opts.max_sentence_bytes;
          out.errors.push({ reason: 'line_too_long', detail: `sentence over ${limit} bytes` });
          inSentence = false;
          skipping = true;
        } else {
          if (b === STAR) {
            xorAtStar = xor;
            afterStar = '';
          } else if (xorAtStar !== undefined && afterStar.length < 3) {
            afterStar += String.fromCharCode(b);
          }
          xor ^= b;
          if (len < buf.length) buf[len++] = b;
          else skipped++;
        }
      }
      return out;
    },
    reset(): void {
      len = 0;
      inSentence = false;
      skipping = false;
      skipped = 0;
      clock = {};
    },
  };
}
