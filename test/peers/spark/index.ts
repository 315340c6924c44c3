// Apache Spark as a downstream consumer of Sluice, in local mode: DedupCount (src/main/java) reads a Kafka
// topic with Structured Streaming, drops duplicate readings by id within a watermark and reports its counts;
// HdfsCount reads the HDFS sink's final files over hdfs://. One short-lived JVM per run, reaped on every path.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnJvm } from '../jvm.js';

/**
 * Spark's own JVM options for Java 17+, as its launcher adds them (spark-launcher 4.2.0,
 * org.apache.spark.launcher.JavaModuleOptions). We start the JVM ourselves, so we pass them ourselves;
 * DedupCount warns on stderr if a Spark upgrade wants one this list lacks.
 */
export const SPARK_JAVA_OPTIONS: readonly string[] = [
  '-XX:+IgnoreUnrecognizedVMOptions',
  '--add-modules=jdk.incubator.vector',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
  '--add-opens=java.base/java.lang.invoke=ALL-UNNAMED',
  '--add-opens=java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens=java.base/java.io=ALL-UNNAMED',
  '--add-opens=java.base/java.net=ALL-UNNAMED',
  '--add-opens=java.base/java.nio=ALL-UNNAMED',
  '--add-opens=java.base/java.util=ALL-UNNAMED',
  '--add-opens=java.base/java.util.concurrent=ALL-UNNAMED',
  '--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.cs=ALL-UNNAMED',
  '--add-opens=java.base/sun.security.action=ALL-UNNAMED',
  '--add-opens=java.base/sun.util.calendar=ALL-UNNAMED',
  '--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED',
  '-Dio.netty.tryReflectionSetAccessible=true',
  '-Dio.netty.allocator.type=pooled',
  '-Dio.netty.handler.ssl.defaultEndpointVerificationAlgorithm=NONE',
  '--sun-misc-unsafe-memory-access=allow',
  '--enable-native-access=ALL-UNNAMED',
];

const MAIN = 'dev.sluice.test.spark.DedupCount';
/** Spark refuses less than 450 MiB of heap (UnifiedMemoryManager); 512m runs the job with room. */
const HEAP = '512m';
const STDERR_TAIL = 4000;

export interface SparkDedupOptions {
  /** Kafka bootstrap servers, as host:port strings or one comma-separated string. */
  readonly bootstrap: readonly string[] | string;
  readonly topic: string;
  /** Killed (SIGKILL) after this long; the error then carries stderr's tail. Default 90 s. */
  readonly timeoutMs?: number;
  /** Spark interval string for the event-time watermark delay. Default '10 minutes'. */
  readonly watermark?: string;
  /** Split the topic into micro-batches of about this many records (maxOffsetsPerTrigger). Default: one. */
  readonly maxOffsetsPerTrigger?: number;
  /** JVM heap. Default 512m. */
  readonly heap?: string;
}

export interface SparkDedupResult {
  /** Records the stream read, duplicates included. */
  readonly read: number;
  /** Rows left after dropDuplicatesWithinWatermark("id"). */
  readonly unique: number;
  /** Exact count of distinct ids in a batch read of the whole topic, after the stream. */
  readonly distinctIds: number;
  /** Records in that batch read. */
  readonly total: number;
  /** Records whose value is not a reading with an id and a ts (the stream skips them). */
  readonly malformed: number;
  /** Rows the dedup dropped as later than the watermark: lost from `unique`, whether duplicates or not. */
  readonly droppedLate: number;
  readonly batches: number;
  /** Time in the streaming query. */
  readonly streamMillis: number;
  /** JVM start to result. */
  readonly millis: number;
  /** Peak resident set size of the JVM (VmHWM), when known. */
  readonly rssPeakBytes?: number;
}

/** Runs the Spark job once over everything the topic holds now, and returns its counts. */
export async function runSparkDedup(options: SparkDedupOptions): Promise<SparkDedupResult> {
  const bootstrap = typeof options.bootstrap === 'string' ? options.bootstrap : options.bootstrap.join(',');
  const timeoutMs = options.timeoutMs ?? 180_000;
  const work = await mkdtemp(join(tmpdir(), 'sluice-spark-'));
  const output = join(work, 'result.json');
  try {
    const args = [bootstrap, options.topic, output, options.watermark ?? '10 minutes', work];
    if (options.maxOffsetsPerTrigger !== undefined) args.push(String(options.maxOffsetsPerTrigger));
    const child = spawnJvm('spark', MAIN, args, {
      heap: options.heap ?? HEAP,
      // Spark's scratch space (spark.local.dir defaults to java.io.tmpdir) goes with the work dir.
      jvmArgs: [...SPARK_JAVA_OPTIONS, `-Djava.io.tmpdir=${work}`],
      // Without it Spark looks up the host's address and may pick a non-loopback interface for its services.
      env: { SPARK_LOCAL_IP: '127.0.0.1' },
    });
    let tail = '';
    const keep = (b: Buffer): void => {
      tail = (tail + b.toString()).slice(-STDERR_TAIL);
    };
    // Both pipes drained: a full stdout pipe would stall the JVM.
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        child.once('error', (error) => resolve({ code: null, signal: null, error }));
        child.once('close', (code, signal) => resolve({ code, signal }));
      },
    );
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    // `exited` only resolves once the JVM is gone (or never started); if this process dies first,
    // spawnJvm's reapOnExit kills it.
    const end = await exited;
    clearTimeout(timer);
    const why = end.error
      ? `could not start: ${end.error.message}`
      : timedOut
        ? `killed after ${timeoutMs} ms`
        : end.code !== 0
          ? `exited with ${end.code ?? end.signal}`
          : undefined;
    if (why) throw new Error(`Spark DedupCount on ${options.topic} ${why}; stderr/stdout tail:\n${tail}`);
    return parseResult(await readFile(output, 'utf8'), tail);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function parseResult(text: string, tail: string): SparkDedupResult {
  const r = JSON.parse(text) as Record<string, unknown>;
  const num = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number') throw new Error(`Spark result lacks ${k}: ${text}\n${tail}`);
    return v;
  };
  const rss = num('rssPeakBytes');
  return {
    read: num('read'),
    unique: num('unique'),
    distinctIds: num('distinctIds'),
    total: num('total'),
    malformed: num('malformed'),
    droppedLate: num('droppedLate'),
    batches: num('batches'),
    streamMillis: num('streamMillis'),
    millis: num('millis'),
    ...(rss >= 0 ? { rssPeakBytes: rss } : {}),
  };
}

/**
 * What is wrong with a run's figures for a quiet topic that got `expectedUnique` readings, each at least
 * once: empty when Spark's count after dedup by id equals the readings sent and agrees with an exact count.
 */
export function sparkCountProblems(r: SparkDedupResult, expectedUnique: number): string[] {
  return [
    r.unique !== expectedUnique && `unique ${r.unique} != ${expectedUnique} readings sent`,
    r.distinctIds !== expectedUnique && `distinct ids ${r.distinctIds} != ${expectedUnique}`,
    r.read !== r.total && `the stream read ${r.read} records but the topic holds ${r.total}`,
    r.malformed !== 0 && `${r.malformed} records are not readings`,
    r.droppedLate !== 0 && `${r.droppedLate} rows dropped as late by the watermark`,
  ].filter((p): p is string => typeof p === 'string');
}

/**
 * The downstream check of the at-least-once contract, run by Spark over the whole topic (which must be
 * quiet: nothing still being produced). Throws with every figure when it does not hold; returns them when
 * it does.
 */
export async function expectSparkCountsEqual(
  bootstrap: readonly string[] | string,
  topic: string,
  expectedUnique: number,
  options: Omit<SparkDedupOptions, 'bootstrap' | 'topic'> = {},
): Promise<SparkDedupResult> {
  const r = await runSparkDedup({ ...options, bootstrap, topic });
  const problems = sparkCountProblems(r, expectedUnique);
  if (problems.length > 0) {
    throw new Error(`Spark dedup count on ${topic}: ${problems.join('; ')} (${JSON.stringify(r)})`);
  }
  return r;
}

const HDFS_MAIN = 'dev.sluice.test.spark.HdfsCount';

export interface SparkHdfsCountOptions {
  /** hdfs://host:port (the NameNode RPC address, from the HDFS peer's state). */
  readonly fsUri: string;
  /** The directory to read, every file below it (Spark skips names starting with _ or .). */
  readonly dir: string;
  readonly format: 'parquet' | 'avro' | 'json';
  /** Killed (SIGKILL) after this long. Default 180 s. */
  readonly timeoutMs?: number;
  /** JVM heap. Default 512m. */
  readonly heap?: string;
}

export interface SparkHdfsCountResult {
  readonly rows: number;
  readonly distinctIds: number;
  readonly minSeq: number;
  readonly maxSeq: number;
  readonly sumSeq: number;
  /** Rows with a non-null `value` (numeric readings). */
  readonly numericValues: number;
  /** Rows with a non-null `value_json` (non-numeric readings); for json, rows with an id. */
  readonly jsonValues: number;
  /** The earliest `ts`, as epoch milliseconds: shows Spark read the timestamps in the right unit. */
  readonly minTsMillis: number;
  /** Spark's schema (StructType as JSON): fields with name, type, nullable. */
  readonly sparkSchema: { fields: { name: string; type: string; nullable: boolean }[] };
  /** Data files Spark's listing rules keep. */
  readonly files: number;
  /** Parquet only: the first file's footer schema as parquet-hadoop prints it. */
  readonly parquetSchema?: string;
  readonly millis: number;
  readonly rssPeakBytes?: number;
}

/** Runs the HdfsCount batch job once over what `dir` holds now, and returns its figures. */
export async function runSparkHdfsCount(options: SparkHdfsCountOptions): Promise<SparkHdfsCountResult> {
  const timeoutMs = options.timeoutMs ?? 180_000;
  const work = await mkdtemp(join(tmpdir(), 'sluice-spark-hdfs-'));
  const output = join(work, 'result.json');
  try {
    const url = `${options.fsUri.replace(/\/+$/, '')}${options.dir}`;
    const child = spawnJvm('spark', HDFS_MAIN, [url, options.format, output, work], {
      heap: options.heap ?? HEAP,
      jvmArgs: [...SPARK_JAVA_OPTIONS, `-Djava.io.tmpdir=${work}`],
      // Spark and the HDFS client as a user of their own: the files are world-readable (644), as by default.
      env: { SPARK_LOCAL_IP: '127.0.0.1', HADOOP_USER_NAME: 'spark' },
    });
    let tail = '';
    const keep = (b: Buffer): void => {
      tail = (tail + b.toString()).slice(-STDERR_TAIL);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const end = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.once('error', (error) => {
          clearTimeout(timer);
          resolve({ code: null, signal: null, error });
        });
        child.once('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal });
        });
      },
    );
    if (end.error || end.code !== 0) {
      const why = end.error
        ? `could not start: ${end.error.message}`
        : `exited with ${end.code ?? end.signal}`;
      throw new Error(`Spark HdfsCount on ${url} ${why}; stderr/stdout tail:\n${tail}`);
    }
    const r = JSON.parse(await readFile(output, 'utf8')) as SparkHdfsCountResult & { rssPeakBytes: number };
    const { rssPeakBytes, ...rest } = r;
    return rssPeakBytes >= 0 ? { ...rest, rssPeakBytes } : rest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
