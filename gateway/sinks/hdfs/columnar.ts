// Parquet and Avro container files, written as the HDFS sink uploads: the file's start and then one
// Parquet row group or Avro block per upload, so memory holds one upload's readings, not a file. Parquet
// puts its schema and row-group index in a footer (FileMetaData) that `end()` writes before the commit;
// an Avro container file needs none. Both are complete only at commit, as the sink's staging wants.
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { deflateRaw, gzipSync } from 'node:zlib';
import avro from 'avsc';
import { ByteWriter, ParquetWriter, type ColumnSource, type SchemaElement } from 'hyparquet-writer';
import { readingId, type QueuedReading } from '../../reading.js';
import type { Encoder, FileEncoder } from './formats.js';

/** One reading as the columnar formats hold it: JSON text where the value or the tags are not a number. */
interface Row {
  readonly id: string;
  readonly seq: number;
  readonly ts: number;
  readonly device: string;
  readonly metric: string;
  readonly value: number | null;
  readonly valueJson: string | null;
  readonly unit: string | null;
  readonly source: string;
  readonly tags: string | null;
}

/** Fixed JSON-line overhead of a reading (keys, quotes, numbers), for the estimate of its size as text. */
const JSON_OVERHEAD = 110;

function toRow(gatewayId: string, r: QueuedReading): { row: Row; textBytes: number } {
  const numeric = typeof r.value === 'number';
  const row: Row = {
    id: readingId(gatewayId, r.seq),
    seq: r.seq,
    ts: r.ts,
    device: r.device,
    metric: r.metric,
    value: numeric ? r.value : null,
    valueJson: numeric ? null : JSON.stringify(r.value),
    unit: r.unit ?? null,
    source: r.source,
    tags: r.tags === undefined ? null : JSON.stringify(r.tags),
  };
  // An estimate (string lengths, not UTF-8 bytes): roll sizes stay comparable with jsonl without encoding it.
  const textBytes =
    JSON_OVERHEAD +
    2 * gatewayId.length +
    row.device.length +
    row.metric.length +
    row.source.length +
    (row.valueJson?.length ?? 0) +
    (row.unit?.length ?? 0) +
    (row.tags?.length ?? 0);
  return { row, textBytes };
}

const utf8 = (name: string, required: boolean): SchemaElement => ({
  name,
  type: 'BYTE_ARRAY',
  converted_type: 'UTF8',
  logical_type: { type: 'STRING' },
  repetition_type: required ? 'REQUIRED' : 'OPTIONAL',
});

/** The Parquet schema of every file; README and the config docs describe it, Spark's test checks it. */
export const PARQUET_SCHEMA: SchemaElement[] = [
  { name: 'reading', num_children: 11 },
  utf8('id', true),
  utf8('gateway', true),
  { name: 'seq', type: 'INT64', repetition_type: 'REQUIRED' },
  {
    name: 'ts',
    type: 'INT64',
    repetition_type: 'REQUIRED',
    converted_type: 'TIMESTAMP_MILLIS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
  },
  utf8('device', true),
  utf8('metric', true),
  { name: 'value', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
  utf8('value_json', false),
  utf8('unit', false),
  utf8('source', true),
  utf8('tags', false),
];

export type ParquetCodec = 'none' | 'snappy' | 'gzip';

/** Snappy is hyparquet-writer's own (pure JS); gzip is Node's zlib, run per page. */
export function parquetEncoder(codec: ParquetCodec, gatewayId: string): Encoder {
  return { ext: 'parquet', open: () => new ParquetFile(codec, gatewayId) };
}

/** A ByteWriter whose bytes are handed out and forgotten; `offset` keeps counting the whole file. */
class DrainingWriter extends ByteWriter {
  drain(): Buffer {
    const out = Buffer.from(this.getBytes()); // a copy: the buffer is written over after the reset
    this.index = 0;
    return out;
  }
}

class ParquetFile implements FileEncoder {
  readonly startBytes = 0;
  private readonly out = new DrainingWriter(64 * 1024);
  private readonly writer: ParquetWriter;
  private rows: Row[] = [];

  constructor(
    codec: ParquetCodec,
    private readonly gatewayId: string,
  ) {
    this.writer = new ParquetWriter({
      writer: this.out,
      schema: PARQUET_SCHEMA,
      codec: codec === 'none' ? 'UNCOMPRESSED' : codec === 'gzip' ? 'GZIP' : 'SNAPPY',
      compressors: { GZIP: (input: Uint8Array) => gzipSync(input) },
      createdBy: 'sluice (hyparquet-writer)',
    });
  }

  add(r: QueuedReading): number {
    const { row, textBytes } = toRow(this.gatewayId, r);
    this.rows.push(row);
    return textBytes;
  }

  take(): Promise<Buffer> {
    const rows = this.rows;
    if (rows.length > 0) {
      this.rows = [];
      // One row group per upload, encoded and compressed here on the event loop (hyparquet-writer is
      // synchronous): about 5 us a reading, so a 4 MiB upload holds the loop some 100 ms on a small core.
      void this.writer.write({ columnData: columns(this.gatewayId, rows), rowGroupSize: rows.length });
    }
    return Promise.resolve(this.out.drain());
  }

  async end(): Promise<Buffer> {
    const last = await this.take();
    void this.writer.finish(); // offset indexes, FileMetaData, its length, PAR1
    return Buffer.concat([last, this.out.drain()]);
  }
}

function columns(gatewayId: string, rows: readonly Row[]): ColumnSource[] {
  const pick = <T>(f: (r: Row) => T): T[] => rows.map(f);
  return [
    // Ids share their `<gateway>:` prefix and seq/ts climb by small steps: delta encodings make them a few
    // bits each where PLAIN + snappy kept 4-8 bytes (test/bench/hdfs-formats.mjs). Parquet-mr and Spark
    // read both encodings; the other columns get dictionaries where those pay.
    { name: 'id', data: pick((r) => r.id), encoding: 'DELTA_BYTE_ARRAY' },
    { name: 'gateway', data: rows.map(() => gatewayId) },
    {
      name: 'seq',
      data: BigInt64Array.from(rows, (r) => BigInt(r.seq)),
      encoding: 'DELTA_BINARY_PACKED',
    },
    {
      name: 'ts',
      data: BigInt64Array.from(rows, (r) => BigInt(r.ts)),
      encoding: 'DELTA_BINARY_PACKED',
    },
    { name: 'device', data: pick((r) => r.device) },
    { name: 'metric', data: pick((r) => r.metric) },
    { name: 'value', data: pick((r) => r.value) },
    { name: 'value_json', data: pick((r) => r.valueJson) },
    { name: 'unit', data: pick((r) => r.unit) },
    { name: 'source', data: pick((r) => r.source) },
    { name: 'tags', data: pick((r) => r.tags) },
  ];
}

/** The Avro schema of every file, the same columns as Parquet's (ts: timestamp-millis). */
export const AVRO_SCHEMA = {
  type: 'record',
  name: 'Reading',
  namespace: 'io.sluice',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'gateway', type: 'string' },
    { name: 'seq', type: 'long' },
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'device', type: 'string' },
    { name: 'metric', type: 'string' },
    { name: 'value', type: ['null', 'double'], default: null },
    { name: 'value_json', type: ['null', 'string'], default: null },
    { name: 'unit', type: ['null', 'string'], default: null },
    { name: 'source', type: 'string' },
    { name: 'tags', type: ['null', 'string'], default: null },
  ],
} as const;

// Avro 1.11 spec, "Object Container Files": the header record, then blocks of (count, size, data, sync).
const HEADER_TYPE = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: 16 } },
  ],
});
const LONG_TYPE = avro.Type.forSchema('long');
const READING_TYPE = avro.Type.forSchema(AVRO_SCHEMA as unknown as avro.Schema);
const deflateRawAsync = promisify(deflateRaw);

export type AvroCodec = 'none' | 'deflate';

export function avroEncoder(codec: AvroCodec, gatewayId: string): Encoder {
  return { ext: 'avro', open: () => new AvroFile(codec, gatewayId) };
}

class AvroFile implements FileEncoder {
  readonly startBytes = 0;
  private readonly sync = randomBytes(16);
  private started = false;
  private chunks: Buffer[] = [];
  private count = 0;

  constructor(
    private readonly codec: AvroCodec,
    private readonly gatewayId: string,
  ) {}

  add(r: QueuedReading): number {
    const { row, textBytes } = toRow(this.gatewayId, r);
    this.chunks.push(
      READING_TYPE.toBuffer({
        id: row.id,
        gateway: this.gatewayId,
        seq: row.seq,
        ts: row.ts,
        device: row.device,
        metric: row.metric,
        value: row.value,
        value_json: row.valueJson,
        unit: row.unit,
        source: row.source,
        tags: row.tags,
      }),
    );
    this.count++;
    return textBytes;
  }

  async take(): Promise<Buffer> {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      parts.push(
        HEADER_TYPE.toBuffer({
          magic: Buffer.from('Obj\x01', 'latin1'),
          meta: {
            'avro.schema': Buffer.from(JSON.stringify(AVRO_SCHEMA)),
            'avro.codec': Buffer.from(this.codec === 'deflate' ? 'deflate' : 'null'),
          },
          sync: this.sync,
        }),
      );
    }
    if (this.count > 0) {
      const raw = Buffer.concat(this.chunks);
      const data = this.codec === 'deflate' ? await deflateRawAsync(raw) : raw; // deflate: RFC 1951, no zlib header
      parts.push(LONG_TYPE.toBuffer(this.count), LONG_TYPE.toBuffer(data.length), data, this.sync);
      this.chunks = [];
      this.count = 0;
    }
    return Buffer.concat(parts);
  }

  end(): Promise<Buffer> {
    return this.take();
  }
}
