// The HDFS sink's Parquet and Avro encoders, read back by other implementations (hyparquet, avsc's decoder):
// every reading round-trips in the documented columns, one row group or block per upload, the codec asked
// for inside the file, and a file is readable only once its end is written. Plus the config's format rules.
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { QueuedReading, ReadingRecord } from '../../../gateway/reading.js';
import { toRecord } from '../../../gateway/reading.js';
import { encoder } from '../../../gateway/sinks/hdfs/encode.js';
import { PARQUET_SCHEMA } from '../../../gateway/sinks/hdfs/columnar.js';
import type { Compression, Format } from '../../../gateway/sinks/hdfs/formats.js';
import { schema } from '../../../gateway/sinks/hdfs/schema.js';
import { reading } from '../../helpers/readings.js';
import { finalName } from '../../../gateway/sinks/ranged-names.js';
import { checkColumnarFile, parquetFooter, readAvro, readParquet } from './columnar-read.js';

const GW = 'gw-7';

/** Numbers, a string, a boolean, an object value; no unit; tags with quotes and non-ASCII; extreme doubles. */
function sample(n: number): QueuedReading[] {
  return Array.from({ length: n }, (_, i) => {
    const seq = i + 1;
    const kind = seq % 6;
    const base = { ...reading(i), seq };
    if (kind === 1) return { ...base, value: 'on', metric: 'state' };
    if (kind === 2) return { ...base, value: true, unit: undefined };
    if (kind === 3) return { ...base, value: { lat: 52.1, lon: 4.3, fix: '3d' } };
    if (kind === 4) return { ...base, tags: { site: 'Zürich "north"', rack: 'r,1' } };
    if (kind === 5) return { ...base, value: seq % 12 === 5 ? -1.7976931348623157e308 : 5e-324 };
    return base;
  }).map((r) => {
    const out: { -readonly [K in keyof QueuedReading]: QueuedReading[K] } = { ...r };
    if (out.unit === undefined) delete out.unit;
    return out;
  });
}

/** Feeds `rs` in uploads of `per` readings, then ends the file, as the writer does. */
async function encode(
  format: Format,
  compression: Compression,
  rs: readonly QueuedReading[],
  per: number,
): Promise<{ file: Buffer; takes: Buffer[]; end: Buffer; textBytes: number }> {
  const f = encoder(format, compression, GW).open();
  const takes: Buffer[] = [];
  let textBytes = f.startBytes;
  for (let i = 0; i < rs.length; i++) {
    textBytes += f.add(rs[i] as QueuedReading);
    if ((i + 1) % per === 0) takes.push(await f.take());
  }
  takes.push(await f.take());
  const end = await f.end();
  return { file: Buffer.concat([...takes, end]), takes, end, textBytes };
}

const expected = (rs: readonly QueuedReading[]): ReadingRecord[] => rs.map((r) => toRecord(GW, r));

describe('jsonl', () => {
  /** Strings JSON.stringify escapes (quotes, backslashes, controls, DEL, non-ASCII, lone surrogates) or not. */
  const strings = [
    '',
    'plain',
    'a"b',
    'back\\slash',
    'tab\tnl\n',
    '\u0000\u001f',
    'del\u007f',
    'Zürich',
    '温度',
    '😀',
    'lone\ud800',
    '\udc00x',
    '</script>',
  ];
  function tricky(): QueuedReading[] {
    const out: QueuedReading[] = [];
    const values = [
      0,
      -0,
      1.5,
      -1.7976931348623157e308,
      5e-324,
      1e21,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      true,
      false,
      'on',
      'a"\\',
      { lat: 52.1, s: 'é"' },
      { nested: { a: [1, 'x'] } },
    ];
    let seq = 1;
    for (const s of strings) {
      for (const value of values.slice(0, 4)) {
        out.push({ ...reading(seq), seq, device: s, metric: s, source: s, unit: s, value, tags: { [s]: s } });
        seq++;
      }
    }
    for (const value of values) {
      out.push({ seq, device: 'd', metric: 'm', value, ts: 1_700_000_000_000 + seq, source: 'src' });
      seq++;
    }
    out.push({ ...reading(seq), seq, id: 'gw-7:agg:"1"' });
    out.push({ ...reading(seq + 1), seq: seq + 1, id: 'plain-id', unit: undefined });
    return out;
  }

  for (const gateway of ['gw-7', 'gw "ü"']) {
    it(`writes JSON.stringify(toRecord(r)) byte for byte, every kind of string and value, gateway ${gateway}`, async () => {
      const rs = tricky();
      const f = encoder('jsonl', 'none', gateway).open();
      const sizes = rs.map((r) => f.add(r));
      const file = (await f.take()).toString('utf8');
      const lines = rs.map((r) => `${JSON.stringify(toRecord(gateway, r))}\n`);
      expect(file).toBe(lines.join(''));
      // add() counts each line's UTF-8 bytes, what upload_buffer_bytes and max_file_bytes count.
      expect(sizes).toEqual(lines.map((l) => Buffer.byteLength(l)));
    });
  }

  it('takes each piece once, in order, across buffer growth; gzip members concatenate to the whole', async () => {
    const rs = Array.from({ length: 20_000 }, (_, i) => ({
      ...reading(i, { device: i % 3 ? 'd' : 'ü' }),
      seq: i + 1,
    }));
    const want = rs.map((r) => `${JSON.stringify(toRecord(GW, r))}\n`).join('');
    for (const c of ['none', 'gzip'] as const) {
      const { file, takes } = await encode('jsonl', c, rs, 7_000);
      expect(takes).toHaveLength(3);
      expect((c === 'gzip' ? gunzipSync(file) : file).toString('utf8')).toBe(want);
    }
  });
});

describe('parquet', () => {
  for (const codec of ['snappy', 'gzip', 'none'] as const) {
    it(`round-trips every reading through hyparquet, ${codec}, one row group per upload`, async () => {
      const rs = sample(2_500);
      const { file } = await encode('parquet', codec, rs, 1_000);
      expect(await readParquet(file)).toEqual(expected(rs));
      const footer = parquetFooter(file);
      expect(footer.num_rows).toBe(2_500n);
      expect(footer.row_groups.map((g) => Number(g.num_rows))).toEqual([1_000, 1_000, 500]);
      const codecs = new Set(footer.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec)));
      expect([...codecs]).toEqual([codec === 'none' ? 'UNCOMPRESSED' : codec.toUpperCase()]);
    });
  }

  it('has the documented schema: required strings, int64 seq, ts TIMESTAMP(MILLIS, UTC), nullable value columns', async () => {
    const { file } = await encode('parquet', 'snappy', sample(10), 100);
    const cols = parquetFooter(file)
      .schema.slice(1)
      .map((e) => ({
        name: e.name,
        type: e.type,
        rep: e.repetition_type,
        logical: e.logical_type?.type,
      }));
    expect(cols).toEqual([
      { name: 'id', type: 'BYTE_ARRAY', rep: 'REQUIRED', logical: 'STRING' },
      { name: 'gateway', type: 'BYTE_ARRAY', rep: 'REQUIRED', logical: 'STRING' },
      { name: 'seq', type: 'INT64', rep: 'REQUIRED', logical: undefined },
      { name: 'ts', type: 'INT64', rep: 'REQUIRED', logical: 'TIMESTAMP' },
      { name: 'device', type: 'BYTE_ARRAY', rep: 'REQUIRED', logical: 'STRING' },
      { name: 'metric', type: 'BYTE_ARRAY', rep: 'REQUIRED', logical: 'STRING' },
      { name: 'value', type: 'DOUBLE', rep: 'OPTIONAL', logical: undefined },
      { name: 'value_json', type: 'BYTE_ARRAY', rep: 'OPTIONAL', logical: 'STRING' },
      { name: 'unit', type: 'BYTE_ARRAY', rep: 'OPTIONAL', logical: 'STRING' },
      { name: 'source', type: 'BYTE_ARRAY', rep: 'REQUIRED', logical: 'STRING' },
      { name: 'tags', type: 'BYTE_ARRAY', rep: 'OPTIONAL', logical: 'STRING' },
    ]);
    expect(PARQUET_SCHEMA[4]?.logical_type).toEqual({
      type: 'TIMESTAMP',
      isAdjustedToUTC: true,
      unit: 'MILLIS',
    });
  });

  it('starts with PAR1 and holds nothing between uploads: a taken upload is not sent again', async () => {
    const f = encoder('parquet', 'snappy', GW).open();
    for (const r of sample(300)) f.add(r);
    const first = await f.take();
    expect(first.subarray(0, 4).toString('latin1')).toBe('PAR1');
    expect((await f.take()).length).toBe(0);
    for (const r of sample(600).slice(300)) f.add(r);
    const second = await f.take();
    expect(second.subarray(0, 4).toString('latin1')).not.toBe('PAR1');
    const end = await f.end();
    const file = Buffer.concat([first, second, end]);
    expect((await readParquet(file)).map((r) => r.seq)).toEqual(sample(600).map((r) => r.seq));
  });

  it('is not a Parquet file without its end: the footer must be written before the commit', async () => {
    const { takes } = await encode('parquet', 'snappy', sample(500), 200);
    await expect(readParquet(Buffer.concat(takes))).rejects.toThrow();
  });

  it('counts readings at about their JSON-line size, so roll sizes match jsonl', async () => {
    const rs = sample(2_000);
    const { textBytes } = await encode('parquet', 'snappy', rs, 500);
    const jsonl = expected(rs).reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)) + 1, 0);
    expect(textBytes / jsonl).toBeGreaterThan(0.8);
    expect(textBytes / jsonl).toBeLessThan(1.25);
  });
});

describe('avro', () => {
  for (const codec of ['deflate', 'none'] as const) {
    it(`round-trips every reading through avsc's container decoder, ${codec}`, async () => {
      const rs = sample(2_500);
      const { file, end } = await encode('avro', codec, rs, 1_000);
      const got = await readAvro(file);
      expect(got.records).toEqual(expected(rs));
      expect(got.codec).toBe(codec === 'none' ? 'null' : 'deflate');
      expect(end.length).toBe(0); // nothing pending at the end: a container file needs no footer
    });
  }

  it('declares ts as timestamp-millis and the value columns as nullable unions', async () => {
    const { file } = await encode('avro', 'deflate', sample(3), 10);
    const { schema: s } = await readAvro(file);
    const fields = (s as { fields: { name: string; type: unknown }[] }).fields;
    expect(fields.map((f) => f.name)).toEqual(PARQUET_SCHEMA.slice(1).map((e) => e.name));
    expect(fields.find((f) => f.name === 'ts')?.type).toEqual({
      type: 'long',
      logicalType: 'timestamp-millis',
    });
    expect(fields.find((f) => f.name === 'value')?.type).toEqual(['null', 'double']);
  });

  it('a torn last block shows as a file whose content does not match its name', async () => {
    // avsc's decoder drops a torn trailing block without an error: the ranged name is what tells.
    const { file } = await encode('avro', 'deflate', sample(500), 200);
    const name = `/d/${finalName('sluice', GW, 1, 500, 'avro')}`;
    expect((await checkColumnarFile(name, file)).problems).toEqual([]);
    const torn = await checkColumnarFile(name, file.subarray(0, file.length - 10));
    expect(torn.problems).toEqual(['name 1-500 does not match content']);
  });
});

describe('config', () => {
  const base = {
    type: 'hdfs',
    namenodes: ['http://nn:9870'],
    path: '/data/x',
    auth: { type: 'pseudo', user: 'u' },
  };
  it('leaves compression unset so each format gets its own default', () => {
    expect(schema.parse({ ...base, format: 'parquet' }).compression).toBeUndefined();
  });
  it('bounds the row groups of a parquet file, whose index stays in memory until the footer', () => {
    const over = { ...base, format: 'parquet', max_file_bytes: '64MiB' };
    const r = schema.safeParse({ ...over, upload_buffer_bytes: '64KiB' });
    expect(r.error?.issues.map((i) => [i.path, i.message])).toEqual([
      [['upload_buffer_bytes'], expect.stringMatching(/one row group per upload: at least .*262144 bytes/)],
    ]);
    expect(schema.safeParse({ ...over, upload_buffer_bytes: '256KiB' }).success).toBe(true);
    expect(schema.safeParse({ ...over, format: 'avro', upload_buffer_bytes: '64KiB' }).success).toBe(true);
  });
  it.each([
    ['parquet', 'deflate'],
    ['avro', 'gzip'],
    ['jsonl', 'snappy'],
    ['csv', 'deflate'],
  ])('refuses %s with %s, naming what the format takes', (format, compression) => {
    const r = schema.safeParse({ ...base, format, compression });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['compression']);
    expect(r.error?.issues[0]?.message).toMatch(new RegExp(`format ${format} takes compression`));
  });
});
