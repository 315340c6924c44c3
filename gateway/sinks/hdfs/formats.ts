// The file formats of the HDFS sink, the compressions each can carry, and what encoding one file means to the
// writer (writer.ts): the text formats (encode.ts) and the columnar ones (columnar.ts) answer the same calls.
import type { QueuedReading } from '../../reading.js';

export type Format = 'jsonl' | 'csv' | 'parquet' | 'avro';
export type Compression = 'none' | 'gzip' | 'snappy' | 'deflate';

/**
 * One file being written. The writer sends what `take()` returns with CREATE, then APPEND, in order, and
 * what `end()` returns last, before the commit: a file is complete only with its end (Parquet's footer).
 */
export interface FileEncoder {
  /** Bytes counted before the first reading (the CSV header), as `add` counts. */
  readonly startBytes: number;
  /** Takes one reading; returns its size as encoded text, what max_file_bytes and upload_buffer_bytes count. */
  add(r: QueuedReading): number;
  /** The bytes for what was added since the last call (the file's start included, the first time). */
  take(): Promise<Buffer>;
  /** The bytes that close the file; empty for the text formats. Called once, after the last `take`. */
  end(): Promise<Buffer>;
}

export interface Encoder {
  /** File extension, without the dot: `jsonl`, `csv.gz`, `parquet`, ... */
  readonly ext: string;
  open(): FileEncoder;
}

/** The compression a format gets when the config names none. */
export function defaultCompression(format: Format): Compression {
  if (format === 'parquet') return 'snappy';
  if (format === 'avro') return 'deflate';
  return 'none';
}

/** The compressions each format can carry; the config schema refuses any other pair. */
export const COMPRESSIONS: Readonly<Record<Format, readonly Compression[]>> = {
  jsonl: ['none', 'gzip'],
  csv: ['none', 'gzip'],
  parquet: ['none', 'snappy', 'gzip'],
  avro: ['none', 'deflate'],
};
