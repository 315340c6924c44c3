// On-disk encoding of a queue entry: a positional CBOR array (cbor-x). Positional beats cbor-x records here:
// records need a structure table shared across restarts, and the array is as small (see test/bench/codec.mjs).
import { Decoder, Encoder } from 'cbor-x';
import { SluiceError } from '../errors.js';
import type { Reading, ReadingValue } from '../reading.js';

const VERSION = 1;
// useRecords off: a record definition would be written inline into every entry, costing bytes, not saving.
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** A decoded entry: the reading and when the queue accepted it (for oldest-unacked age). */
interface StoredEntry {
  readonly reading: Reading;
  readonly appendedAt: number;
}

export function encodeEntry(r: Reading, appendedAt: number): Buffer {
  return encoder.encode([
    VERSION,
    appendedAt,
    r.device,
    r.metric,
    r.value,
    r.ts,
    r.source,
    r.unit ?? null,
    r.tags ?? null,
  ]);
}

export function decodeEntry(buf: Uint8Array, seq: number): StoredEntry {
  const raw: unknown = decoder.decode(buf);
  if (!Array.isArray(raw) || raw[0] !== VERSION || raw.length !== 9) {
    throw new SluiceError('SLUICE_QUEUE_IO', `queue entry ${seq} has an unknown format`, {
      retriable: false, // reading it again decodes it no better: an operator must restore the directory
      hint: 'the data directory was written by a newer Sluice, or is damaged; restore it or move it aside',
    });
  }
  const [, appendedAt, device, metric, value, ts, source, unit, tags] = raw as [
    number,
    number,
    string,
    string,
    ReadingValue,
    number,
    string,
    string | null,
    Record<string, string> | null,
  ];
  const reading: { -readonly [K in keyof Reading]: Reading[K] } = { device, metric, value, ts, source };
  if (unit !== null) reading.unit = unit;
  if (tags !== null) reading.tags = tags;
  return { reading, appendedAt };
}
