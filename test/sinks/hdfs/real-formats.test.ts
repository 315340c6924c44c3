// The HDFS sink's Parquet and Avro files on a real Apache Hadoop 3.5 MiniDFSCluster, and Spark reading them
// the way downstream does: through the real SinkRunner, several row groups (blocks) per file, rolled by
// count into time-independent {device} directories; read back through Hadoop's FileSystem client and parsed
// by other implementations; a restart with an open generation (row groups staged, no footer) that recovery
// throws away, and SIGKILL rounds of a real gateway writing Parquet; then Spark over hdfs:// from the NameNode's RPC address counts rows and distinct ids and
// reports the schema, which must be the documented one.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Queue } from '../../../gateway/queue/queue.js';
import type { QueuedReading } from '../../../gateway/reading.js';
import { runGatewayChild, writeBacklog } from '../../helpers/gateway-child.js';
import { tempDir } from '../../helpers/tmp.js';
import { assertBuilt } from '../built.js';
import { reading, readings } from '../../helpers/readings.js';
import { until } from '../../helpers/wait.mjs';
import { startHdfs, type HdfsPeer } from '../../peers/hdfs/index.js';
import { runSparkHdfsCount, type SparkHdfsCountResult } from '../../peers/spark/index.js';
import { checkColumnarFile, parquetFooter } from './columnar-read.js';
import type { FinalFile } from './helpers.js';
import { pipeline } from './helpers.js';
import { exists, namenodeUrls, ownedDir, readFinalFile, realSink, walk } from './real-helpers.js';

let hdfs: HdfsPeer;
let namenodes: string[];
let fsUri: string;
beforeAll(async () => {
  hdfs = await startHdfs({ variant: 'simple' });
  namenodes = await namenodeUrls(hdfs);
  const rpc = (await hdfs.state()).namenodes[0]?.rpc;
  if (rpc == null) throw new Error('the HDFS peer reports no NameNode RPC address');
  fsUri = `hdfs://${rpc}`;
});
afterAll(async () => hdfs?.close());

let dirs = 0;
async function freshRoot(): Promise<string> {
  const root = `/f${++dirs}`;
  await ownedDir(hdfs, root);
  return root;
}

/** Every final file below `root` through FileSystem, parsed by its format's reader. */
async function finalFiles(root: string): Promise<FinalFile[]> {
  const out: FinalFile[] = [];
  for (const path of (await walk(hdfs, root)).sort()) {
    out.push(
      /\.(parquet|avro)$/.test(path)
        ? await checkColumnarFile(path, await hdfs.read(path))
        : await readFinalFile(hdfs, path),
    );
  }
  return out;
}

/** Each of seqs 1..n in exactly one sound final file below `root`; nothing left staged. */
async function expectExactlyOnce(root: string, n: number): Promise<FinalFile[]> {
  const files = await finalFiles(root);
  expect(files.flatMap((f) => f.problems.map((p) => `${f.path}: ${p}`))).toEqual([]);
  const seqs = files.flatMap((f) => f.records.map((r) => r.seq)).sort((a, b) => a - b);
  expect(seqs.filter((s, i) => i > 0 && seqs[i - 1] === s)).toEqual([]);
  expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  const staged = (await walk(hdfs, root, false)).filter((p) => p.includes('/staging/'));
  expect(staged).toEqual([]);
  return files;
}

/** What every Spark read of n readings 1..n must show, whatever the format. */
function expectCounts(r: SparkHdfsCountResult, n: number, files: number): void {
  expect({
    rows: r.rows,
    distinctIds: r.distinctIds,
    minSeq: r.minSeq,
    maxSeq: r.maxSeq,
    sumSeq: r.sumSeq,
    files: r.files,
  }).toEqual({ rows: n, distinctIds: n, minSeq: 1, maxSeq: n, sumSeq: (n * (n + 1)) / 2, files });
  expect(r.minTsMillis).toBe(reading(0).ts);
}

/** The documented columns as Spark sees them (file sources make every column nullable). */
const SPARK_COLUMNS = [
  ['id', 'string'],
  ['gateway', 'string'],
  ['seq', 'long'],
  ['ts', 'timestamp'],
  ['device', 'string'],
  ['metric', 'string'],
  ['value', 'double'],
  ['value_json', 'string'],
  ['unit', 'string'],
  ['source', 'string'],
  ['tags', 'string'],
];

/** Streams `n` readings through a runner into `root`, until all are acked. */
async function drain(root: string, n: number, over: Record<string, unknown>): Promise<void> {
  const sink = realSink(namenodes, {
    path: `${root}/out/{device}`,
    max_file_readings: 700,
    roll_interval_ms: 1_500,
    idle_timeout_ms: 0,
    upload_buffer_bytes: 16 * 1024,
    max_file_bytes: 1024 * 1024, // parquet: at most 256 uploads (row groups) per file
    ...over,
  });
  const { queue, runner } = await pipeline(sink);
  try {
    for (let i = 0; i < n; i += 500) await queue.append(readings(Math.min(500, n - i), i));
    await until(() => queue.cursorPosition('hdfs') === n, { timeoutMs: 90_000 });
  } finally {
    await runner.stop(); // flushes the last, partial files
  }
  expect(queue.cursorPosition('hdfs')).toBe(n);
  await queue.close();
}

describe('parquet and avro on a real cluster, read by Spark', { timeout: 300_000 }, () => {
  test('parquet: several row groups per file, footer written, every reading once; Spark counts them', async () => {
    const root = await freshRoot();
    const n = 6_000;
    await drain(root, n, { format: 'parquet' });
    const files = await expectExactlyOnce(root, n);
    const groups = await Promise.all(
      files.map(async (f) => parquetFooter(await hdfs.read(f.path)).row_groups.length),
    );
    // 7 devices, 700 per file: files of 700 readings hold several 16 KiB uploads, each one row group.
    expect(Math.max(...groups)).toBeGreaterThan(1);
    expect(files.every((f) => f.path.endsWith('.parquet'))).toBe(true);

    const spark = await runSparkHdfsCount({ fsUri, dir: `${root}/out`, format: 'parquet' });
    console.info(
      `spark parquet: ${spark.rows} rows in ${spark.files} files, ${spark.millis} ms, rss ${spark.rssPeakBytes}`,
    );
    expectCounts(spark, n, files.length);
    expect(spark.sparkSchema.fields.map((f) => [f.name, f.type])).toEqual(SPARK_COLUMNS);
    expect(spark.numericValues).toBe(n); // readings() are all numeric
    expect(spark.jsonValues).toBe(0);
    // parquet-hadoop's own reading of the footer: required/optional and the logical types as documented.
    const footer = (spark.parquetSchema ?? '').replace(/\s+/g, ' ');
    for (const col of [
      'required binary id (STRING);',
      'required int64 seq;',
      'required int64 ts (TIMESTAMP(MILLIS,true));',
      'optional double value;',
      'optional binary value_json (STRING);',
      'optional binary tags (STRING);',
    ]) {
      expect(footer).toContain(col);
    }
  });

  test('restart with an open generation: its staged row groups (no footer) are thrown away, written again once', async () => {
    const root = await freshRoot();
    const over = {
      format: 'parquet',
      compression: 'gzip',
      path: `${root}/out`,
      max_file_readings: 1_000,
      upload_buffer_bytes: 8 * 1024,
      max_file_bytes: 1024 * 1024,
    };
    const all: QueuedReading[] = readings(3_000).map((r, i) => ({ ...r, seq: i + 1 }));
    const first = realSink(namenodes, over);
    await first.connect();
    // 1..1000 roll by count and are final; 1001..1500 are uploaded in row groups into the staging directory.
    expect((await first.write(all.slice(0, 1_500))).committedThrough).toBe(1_000);
    const staged = (await walk(hdfs, root, false)).filter((p) => p.includes('/staging/'));
    expect(staged).toHaveLength(1);
    const headless = await hdfs.read(staged[0] as string);
    expect(headless.subarray(0, 4).toString('latin1')).toBe('PAR1');
    expect(() => parquetFooter(headless)).toThrow(); // no footer yet: not a Parquet file
    await first.close(); // as after a crash: nothing flushed, the queue still holds 1001.. unacked

    const second = realSink(namenodes, over);
    await second.connect();
    // The queue re-reads from its cursor; give it everything, as after an ack lost with the crash.
    let acked = 0;
    for (let i = 0; i < all.length; i += 400) {
      acked = (await second.write(all.slice(i, i + 400))).committedThrough ?? acked;
    }
    acked = (await second.flush('shutdown')).committedThrough ?? acked;
    expect(acked).toBe(3_000);
    await second.close();
    const files = await expectExactlyOnce(root, 3_000);
    expect(files.map((f) => [f.first, f.last])).toEqual([
      [1, 1_000],
      [1_001, 2_000],
      [2_001, 3_000],
    ]);
  });

  test('avro: container files with deflate blocks, every reading once; Spark counts them', async () => {
    const root = await freshRoot();
    const n = 4_000;
    await drain(root, n, { format: 'avro' });
    const files = await expectExactlyOnce(root, n);
    expect(files.every((f) => f.path.endsWith('.avro'))).toBe(true);
    const spark = await runSparkHdfsCount({ fsUri, dir: `${root}/out`, format: 'avro' });
    console.info(`spark avro: ${spark.rows} rows in ${spark.files} files, ${spark.millis} ms`);
    expectCounts(spark, n, files.length);
    expect(spark.sparkSchema.fields.map((f) => [f.name, f.type])).toEqual(SPARK_COLUMNS);
  });

  test('jsonl + gzip: Spark reads the same directory layout as JSON', async () => {
    const root = await freshRoot();
    const n = 3_000;
    await drain(root, n, { format: 'jsonl', compression: 'gzip' });
    const files = await expectExactlyOnce(root, n);
    const spark = await runSparkHdfsCount({ fsUri, dir: `${root}/out`, format: 'json' });
    expectCounts(spark, n, files.length);
    expect(spark.sparkSchema.fields.map((f) => f.name).sort()).toEqual(
      ['device', 'gateway', 'id', 'metric', 'seq', 'source', 'ts', 'unit', 'value'].sort(),
    );
  });
});

const crashChild = fileURLToPath(new URL('../../fixtures/hdfs-gateway-child.mjs', import.meta.url));
// Parquet into one directory per device; small files and small uploads, so that a SIGKILL lands between row
// groups, before a footer, or mid-commit.
const parquetCrash = JSON.stringify({
  path: '/crash/{device}',
  format: 'parquet',
  max_file_readings: 150,
  max_file_bytes: 512 * 1024,
  upload_buffer_bytes: 4096,
});

test('SIGKILL rounds of a gateway writing parquet: no torn, empty or duplicate file; Spark counts each once', async () => {
  assertBuilt('hdfs');
  const total = 2_000;
  await ownedDir(hdfs, '/crash');
  const dataDir = tempDir();
  const queueDir = await writeBacklog(dataDir, total);
  let acked = 0;
  let rounds = 0;
  let leftStaged = 0; // rounds whose kill left an uncommitted attempt (row groups without a footer)
  for (; rounds < 8 && acked < total; rounds++) {
    acked = (
      await runGatewayChild(crashChild, [dataDir, namenodes[0] as string, parquetCrash], {
        onReady: (ctl) => {
          const timer = setTimeout(() => ctl.kill(), 400 + Math.floor(Math.random() * 1200));
          ctl.onExit(() => clearTimeout(timer));
        },
      })
    ).acked;
    await new Promise((r) => setTimeout(r, 50)); // requests the child sent before dying land now
    const staging = '/crash/_sluice/gw-crash/hdfs/staging';
    if ((await exists(hdfs, staging)) && (await hdfs.ls(staging)).length > 0) leftStaged++;
    const reader = Queue.open({ dir: queueDir, maxBytes: 1 << 30, onFull: 'reject_new', readOnly: true });
    const cursor = reader.cursorPosition('hdfs');
    await reader.close();
    const files = await finalFiles('/crash');
    expect(files.flatMap((f) => f.problems.map((p) => `${f.path}: ${p}`))).toEqual([]);
    const seqs = files.flatMap((f) => f.records.map((r) => r.seq));
    expect(seqs.length).toBe(new Set(seqs).size);
    const have = new Set(seqs);
    let prefix = 0;
    while (have.has(prefix + 1)) prefix++;
    expect(cursor).toBeLessThanOrEqual(prefix); // nothing acked that is not in a final, readable file
  }
  if (acked < total)
    acked = (await runGatewayChild(crashChild, [dataDir, namenodes[0] as string, parquetCrash])).acked;
  console.info(`hdfs formats crash: ${rounds} SIGKILL rounds, ${leftStaged} left staged files`);
  expect(acked).toBe(total);
  expect(leftStaged).toBeGreaterThanOrEqual(2);
  const files = await expectExactlyOnce('/crash', total);
  const spark = await runSparkHdfsCount({ fsUri, dir: '/crash', format: 'parquet' });
  expectCounts(spark, total, files.length);
}, 400_000);
