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
  const pack = gzipped
    ? (text: string) => gzipAsync(Buffer.from(text, 'utf8'))
    : (text: string) => Promise.resolve(Buffer.from(text, 'utf8'));
  const suffix = gzipped ? '.gz' : '';
  const line =
    format === 'jsonl'
      ? (r: QueuedReading) => `${JSON.stringify(toRecord(gatewayId, r))}\n`
      : (r: QueuedReading) => csvLine(gatewayId, r);
  const header = format === 'csv' ? `${CSV_COLUMNS.join(',')}\n` : '';
  return { ext: `${format}${suffix}`, open: () => new TextFile(header, line, pack) };
}

/** Lines held until taken; the header goes with the first take. */
class TextFile implements FileEncoder {
  readonly startBytes: number;
  private pending: string[];

  constructor(
    header: string,
    private readonly line: (r: QueuedReading) => string,
    private readonly pack: (text: string) => Promise<Buffer>,
  ) {
    this.startBytes = Buffer.byteLength(header);
    this.pending = header === '' ? [] : [header];
  }

  add(r: QueuedReading): number {
    const text = this.line(r);
    this.pending.push(text);
    return Buffer.byteLength(text);
  }

  take(): Promise<Buffer> {
    if (this.pending.length === 0) return Promise.resolve(EMPTY);
    const text = this.pending.join('');
    this.pending = [];
    return this.pack(text);
  }

  end(): Promise<Buffer> {
    return Promise.resolve(EMPTY);
  }
}

function csvLine(gatewayId: string, r: QueuedReading): string {
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
  return `${cells.map(csvCell).join(',')}\n`;
}

/** RFC 4180: quote a cell holding a comma, quote or line break, doubling the quotes inside. */
function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
