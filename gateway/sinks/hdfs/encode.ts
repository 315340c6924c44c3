// File contents: one line per reading, JSON lines (the ReadingRecord every sink writes) or CSV (RFC 4180,
// header first), optionally gzip. Each upload is its own gzip member; concatenated members are one valid gzip
// stream (RFC 1952 2.2) that gunzip, Hadoop's GzipCodec, Hive and Spark read whole.
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { toRecord, type QueuedReading } from '../../reading.js';

export type Format = 'jsonl' | 'csv';

export interface Encoder {
  /** File extension, without the dot: `jsonl`, `csv.gz`, ... */
  readonly ext: string;
  /** What starts every file (the CSV header), or ''. */
  readonly header: string;
  line(r: QueuedReading): string;
  /** What goes over the wire for these encoded lines. */
  pack(text: string): Promise<Buffer>;
}

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

export function encoder(format: Format, gzipped: boolean, gatewayId: string): Encoder {
  const pack = gzipped
    ? (text: string) => gzipAsync(Buffer.from(text, 'utf8'))
    : (text: string) => Promise.resolve(Buffer.from(text, 'utf8'));
  const suffix = gzipped ? '.gz' : '';
  if (format === 'jsonl') {
    return {
      ext: `jsonl${suffix}`,
      header: '',
      line: (r) => `${JSON.stringify(toRecord(gatewayId, r))}\n`,
      pack,
    };
  }
  return {
    ext: `csv${suffix}`,
    header: `${CSV_COLUMNS.join(',')}\n`,
    line: (r) => csvLine(gatewayId, r),
    pack,
  };
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
