// Reads the HDFS sink's Parquet and Avro files back with readers other than the writers (hyparquet for
// Parquet, avsc's container-file decoder for Avro) into the reading records the text formats hold, and checks
// a final file as helpers.ts's checkFinalFile does for JSON lines and CSV: no empty, torn or misnamed file.
import { gunzipSync } from 'node:zlib';
import avro from 'avsc';
import { parquetMetadata, parquetReadObjects, type FileMetaData } from 'hyparquet';
import type { ReadingRecord, ReadingValue } from '../../../gateway/reading.js';
import { parseRangedName } from '../../../gateway/sinks/ranged-names.js';
import type { FinalFile } from './helpers.js';

/** A Parquet or Avro row: the documented columns, value split into value / value_json. */
interface ColumnarRow {
  id: string;
  gateway: string;
  seq: bigint | number;
  ts: Date | number;
  device: string;
  metric: string;
  value: number | null;
  value_json: string | null;
  unit: string | null;
  source: string;
  tags: string | null;
}

function toRecord(row: ColumnarRow): ReadingRecord {
  const value: ReadingValue =
    row.value !== null ? row.value : (JSON.parse(row.value_json ?? 'null') as ReadingValue);
  return {
    id: row.id,
    gateway: row.gateway,
    seq: Number(row.seq),
    ts: row.ts instanceof Date ? row.ts.getTime() : Number(row.ts),
    device: row.device,
    metric: row.metric,
    value,
    source: row.source,
    ...(row.unit === null ? {} : { unit: row.unit }),
    ...(row.tags === null ? {} : { tags: JSON.parse(row.tags) as Record<string, string> }),
  };
}

const compressors = { GZIP: (input: Uint8Array) => new Uint8Array(gunzipSync(input)) };

/** The bytes as an ArrayBuffer of their own, as hyparquet reads them. */
function arrayBuffer(raw: Buffer): ArrayBuffer {
  const out = new ArrayBuffer(raw.length);
  new Uint8Array(out).set(raw);
  return out;
}

export function parquetFooter(raw: Buffer): FileMetaData {
  return parquetMetadata(arrayBuffer(raw));
}

export async function readParquet(raw: Buffer): Promise<ReadingRecord[]> {
  const file = arrayBuffer(raw);
  const rows = (await parquetReadObjects({ file, compressors })) as unknown as ColumnarRow[];
  return rows.map(toRecord);
}

/** The container file's blocks decoded; rejects on a bad header, a torn block or a wrong sync marker. */
export function readAvro(raw: Buffer): Promise<{ records: ReadingRecord[]; codec: string; schema: unknown }> {
  return new Promise((resolve, reject) => {
    const decoder = new avro.streams.BlockDecoder();
    const rows: ColumnarRow[] = [];
    let codec = '';
    let schema: unknown;
    decoder.on('metadata', (_type: unknown, c: string, header: { meta: Record<string, Buffer> }) => {
      codec = c;
      schema = JSON.parse(header.meta['avro.schema']?.toString() ?? 'null');
    });
    decoder.on('data', (row: ColumnarRow) => rows.push(row));
    decoder.on('error', reject);
    decoder.on('end', () => resolve({ records: rows.map(toRecord), codec, schema }));
    decoder.end(raw);
  });
}

/** Parses one final Parquet or Avro file and says what is wrong with it, if anything. */
export async function checkColumnarFile(path: string, raw: Buffer): Promise<FinalFile> {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const range = parseRangedName(name);
  const problems: string[] = [];
  if (range === undefined) problems.push('not a final name');
  if (raw.length === 0) problems.push('empty');
  let records: ReadingRecord[] = [];
  try {
    if (name.endsWith('.parquet')) {
      const footer = parquetFooter(raw);
      records = await readParquet(raw);
      if (Number(footer.num_rows) !== records.length)
        problems.push(`footer says ${footer.num_rows} rows, ${records.length} read`);
    } else if (name.endsWith('.avro')) {
      records = (await readAvro(raw)).records;
    } else problems.push('neither .parquet nor .avro');
  } catch (err) {
    problems.push(`unreadable: ${String(err)}`);
  }
  const seqs = records.map((r) => r.seq);
  if (range && (range.first !== Math.min(...seqs) || range.last !== Math.max(...seqs)))
    problems.push(`name ${range.first}-${range.last} does not match content`);
  return { path, first: range?.first ?? 0, last: range?.last ?? 0, bytes: raw.length, records, problems };
}
