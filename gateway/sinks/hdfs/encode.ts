// File contents. Text formats: one line per reading, JSON lines (the ReadingRecord every sink writes) or CSV
// (RFC 4180, header first), optionally gzip; each upload is its own gzip member, and concatenated members are
// one valid gzip stream (RFC 1952 2.2) that gunzip, Hadoop's GzipCodec, Hive and Spark read whole. Parquet
// and Avro container files come from columnar.ts through the same per-file interface.
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { SluiceError } from '../../errors.js';
import { toRecord, type QueuedReading } from '../../reading.js';
import { avroEncoder, parquetEncoder } from './columnar.js';
import { COMPRESSIONS, type Compression, type Encoder, type FileEncoder, type Format } from './formats.js';

export const CSV_COLUMNS = [
  'id',
  'gateway',
  'seq',
  'ts',
  'device',
  'metric',
  'value',
  'unit',
  'source',
  'tags',
] as const;

const gzipAsync = promisify(gzip);
const EMPTY = Buffer.alloc(0);
export function encoder(format: Format, compression: Compression, gatewayId: string): Encoder {
  if (!COMPRESSIONS[format].includes(compression)) {
    // The config schema refuses the pair first; this guards a caller that skipped it.
    throw new SluiceError('SLUICE_INTERNAL', `format ${format} cannot carry ${compression} compression`);
  }
  if (format === 'parquet') {
    return parquetEncoder(
      compression === 'snappy' || compression === 'gzip' ? compression : 'none',
      gatewayId,
    );
  }
  if (format === 'avro') return avroEncoder(compression === 'deflate' ? 'deflate' : 'none', gatewayId);
  const gzipped = compression === 'gzip';
  const pack = gzipped ? (data: Buffer) => gzipAsync(data) : (data: Buffer) => Promise.resolve(data);
  const suffix = gzipped ? '.gz' : '';
  const line = format === 'jsonl' ? jsonLine(gatewayId) : (r: QueuedReading) => csvLine(gatewayId, r);
  const header = format === 'csv' ? `${CSV_COLUMNS.join(',')}\n` : '';
  return { ext: `${format}${suffix}`, open: () => new TextFile(header, line, pack) };
}

/**
 * Printable ASCII but `"` and `\`: a string JSON.stringify leaves as it is between its quotes, one byte per
 * character. Anything else (control characters, DEL, non-ASCII, lone surrogates) goes through JSON.stringify.
 */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** A line's text, and whether it is all ASCII (then its byte length is its length). */
interface Line {
  text: string;
  ascii: boolean;
}

/**
 * `JSON.stringify(toRecord(gatewayId, r))` and a line break, byte for byte (the same keys in the same order,
 * the same escapes), built from the reading directly: no record object, strings needing no escape copied as
 * they are. formats.test.ts checks it against JSON.stringify on every kind of value and string.
 */
export function jsonLine(gatewayId: string): (r: QueuedReading) => Line {
  const idStart = `{"id":${JSON.stringify(`${gatewayId}:`).slice(0, -1)}`;
  const gateway = `,"gateway":${JSON.stringify(gatewayId)},"seq":`;
  const gatewayAscii = PLAIN.test(gatewayId);
  // Whether the line being built is all ASCII so far; set by str() (one line at a time, synchronously).
  let ascii = true;
  const str = (v: string): string => {
    if (PLAIN.test(v)) return `"${v}"`;
    ascii = false;
    return JSON.stringify(v);
  };
  return (r) => {
    ascii = gatewayAscii;
    const v = r.value;
    let value: string;
    if (typeof v === 'number' && Number.isFinite(v)) value = `${v}`;
    else if (typeof v === 'string') value = str(v);
    else {
      ascii = false; // an object's keys and strings, unchecked
      value = JSON.stringify(v);
    }
    let text = `${r.id === undefined ? `${idStart}${r.seq}"` : `{"id":${str(r.id)}`}${gateway}${r.seq},"device":${str(r.device)},"metric":${str(r.metric)},"value":${value},"ts":${JSON.stringify(r.ts)},"source":${str(r.source)}`;
    if (r.unit !== undefined) text += `,"unit":${str(r.unit)}`;
    if (r.tags !== undefined) {
      ascii = false;
      text += `,"tags":${JSON.stringify(r.tags)}`;
    }
    return { text: `${text}}\n`, ascii };
  };
}

/**
 * Lines written as they come into one buffer per take (no strings kept, no join), ASCII lines byte by byte;
 * the header goes with the first take.
 */
class TextFile implements FileEncoder {
  readonly startBytes: number;
  private buf: Buffer;
  private used = 0;

  constructor(
    header: string,
    private readonly line: (r: QueuedReading) => Line,
    private readonly pack: (data: Buffer) => Promise<Buffer>,
  ) {
    this.buf = Buffer.allocUnsafe(64 * 1024);
    this.startBytes = header === '' ? 0 : this.write(header, false);
  }

  add(r: QueuedReading): number {
    const { text, ascii } = this.line(r);
    return this.write(text, ascii);
  }

  take(): Promise<Buffer> {
    if (this.used === 0) return Promise.resolve(EMPTY);
    const data = this.buf.subarray(0, this.used);
    // The next piece gets a buffer of its own, as large as this one grew: `data` is never written again.
    this.buf = Buffer.allocUnsafe(this.buf.length);
    this.used = 0;
    return this.pack(data);
  }

  end(): Promise<Buffer> {
    return Promise.resolve(EMPTY);
  }

  private write(text: string, ascii: boolean): number {
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair: 4 for 2).
    const room = ascii ? text.length : text.length * 3;
    if (this.buf.length - this.used < room) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + room));
      this.buf.copy(grown, 0, 0, this.used);
      this.buf = grown;
    }
    const n = this.buf.write(text, this.used, ascii ? 'latin1' : 'utf8');
    this.used += n;
    return n;
  }
}

function csvLine(gatewayId: string, r: QueuedReading): Line {
  const rec = toRecord(gatewayId, r);
  const value = typeof rec.value === 'object' ? JSON.stringify(rec.value) : String(rec.value);
  const cells = [
    rec.id,
    rec.gateway,
    String(rec.seq),
    String(rec.ts),
    rec.device,
    rec.metric,
    value,
    rec.unit ?? '',
    rec.source,
    rec.tags === undefined ? '' : JSON.stringify(rec.tags),
  ];
  return { text: `${cells.map(csvCell).join(',')}\n`, ascii: false };
}

/** RFC 4180: quote a cell holding a comma, quote or line break, doubling the quotes inside. */
function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
