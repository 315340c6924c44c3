// Shared by the HDFS sink tests: an emulated cluster with a writable /data, a sink against it, a runner
// around a fresh queue, and the checks every test ends with, read straight from the emulator's namespace:
// every reading in exactly one final file, and no empty, truncated, misnamed or stray file.
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { silentLogger } from '../../../gateway/observe/log.js';
import { noMetrics } from '../../../gateway/metrics-spec.js';
import { Queue } from '../../../gateway/queue/queue.js';
import type { ReadingRecord } from '../../../gateway/reading.js';
import { SinkRunner } from '../../../gateway/runtime/sink-runner.js';
import { schema, type HdfsSinkConfig } from '../../../gateway/sinks/hdfs/schema.js';
import { parseRangedName } from '../../../gateway/sinks/ranged-names.js';
import { HdfsSink } from '../../../gateway/sinks/hdfs/sink.js';
import { startWebHdfs, type WebHdfs, type WebHdfsOptions } from '../../peers/webhdfs/index.js';
import { readings } from '../../helpers/readings.js';
import { tempDir } from '../../helpers/tmp.js';

export const USER = 'sluice';

export async function cluster(options: WebHdfsOptions = {}): Promise<WebHdfs> {
  const hdfs = await startWebHdfs(options);
  hdfs.fs.mkdirs('/data', { owner: USER });
  return hdfs;
}

export function sinkConfig(hdfs: WebHdfs, over: Record<string, unknown> = {}): HdfsSinkConfig {
  return schema.parse({
    type: 'hdfs',
    namenodes: [hdfs.namenodeUrl],
    path: '/data/out',
    auth: { type: 'pseudo', user: USER },
    request_timeout_ms: 2_000,
    ...over,
  });
}

export function makeSink(
  hdfs: WebHdfs,
  over: Record<string, unknown> = {},
  gatewayId = 'gw1',
  name = 'hdfs',
): HdfsSink {
  return new HdfsSink(name, sinkConfig(hdfs, over), {
    gatewayId,
    dataDir: tempDir(),
    log: silentLogger,
    metrics: noMetrics,
  });
}

export const fast = { initial_ms: 10, max_ms: 100, multiplier: 2 };

/** A fresh queue and a started runner around `sink`. */
export async function pipeline(
  sink: HdfsSink,
  batch = { max_count: 200, max_bytes: 1 << 20, linger_ms: 2 },
): Promise<{ queue: Queue; runner: SinkRunner }> {
  const queue = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const runner = new SinkRunner(
    sink,
    queue,
    { startFrom: 'oldest', batch, retry: fast, idleFlushMs: 20 },
    silentLogger,
    noMetrics,
  );
  await runner.start();
  return { queue, runner };
}

export async function fill(queue: Queue, n: number, chunk = 500): Promise<void> {
  for (let i = 0; i < n; i += chunk) await queue.append(readings(Math.min(chunk, n - i), i));
}

/** Every file below `dir`, recursively, with the state directories (`_sluice`) left out or not. */
export function walk(hdfs: WebHdfs, dir: string, skipState = true): string[] {
  const out: string[] = [];
  for (const name of hdfs.fs.list(dir)) {
    const path = `${dir === '/' ? '' : dir}/${name}`;
    if (hdfs.fs.stat(path)?.type === 'DIRECTORY') {
      if (!(skipState && name === '_sluice')) out.push(...walk(hdfs, path, skipState));
    } else out.push(path);
  }
  return out;
}

export interface FinalFile {
  readonly path: string;
  readonly first: number;
  readonly last: number;
  readonly bytes: number;
  readonly records: ReadingRecord[];
  /** What is wrong with it: empty, torn, unparsable, or a name that does not match its content. */
  readonly problems: string[];
}

/** Reads every file below `root` (outside the state directory) and checks each one. */
export function finalFiles(hdfs: WebHdfs, root = '/data'): FinalFile[] {
  return walk(hdfs, root)
    .sort()
    .map((path) => checkFinalFile(path, hdfs.fs.read(path) ?? Buffer.alloc(0)));
}

/** Parses one final file (JSON lines or CSV, maybe gzip) and says what is wrong with it, if anything. */
export function checkFinalFile(path: string, raw: Buffer): FinalFile {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const range = parseRangedName(name);
  const problems: string[] = [];
  if (range === undefined) problems.push('not a final name');
  if (raw.length === 0) problems.push('empty');
  let text = '';
  try {
    text = name.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  } catch (err) {
    problems.push(`bad gzip: ${String(err)}`);
  }
  if (text !== '' && !text.endsWith('\n')) problems.push('truncated (no final newline)');
  const records: ReadingRecord[] = [];
  const lines = text.split('\n').filter(Boolean);
  for (const line of name.includes('.csv') ? lines.slice(1) : lines) {
    if (name.includes('.csv')) {
      const cells = line.split(',');
      records.push({ id: cells[0], gateway: cells[1], seq: Number(cells[2]) } as ReadingRecord);
      continue;
    }
    try {
      records.push(JSON.parse(line) as ReadingRecord);
    } catch (err) {
      problems.push(`unparsable line ${line.slice(0, 40)}: ${String(err)}`);
    }
  }
  const seqs = records.map((r) => r.seq);
  if (range && (range.first !== Math.min(...seqs) || range.last !== Math.max(...seqs)))
    problems.push(`name ${range.first}-${range.last} does not match content`);
  return { path, first: range?.first ?? 0, last: range?.last ?? 0, bytes: raw.length, records, problems };
}

/** Asserts the union of final files is exactly seqs first..first+n-1, once each, in sound files. */
export function expectExactlyOnce(hdfs: WebHdfs, n: number, root = '/data', first = 1): FinalFile[] {
  const files = finalFiles(hdfs, root);
  expect(files.flatMap((f) => f.problems.map((p) => `${f.path}: ${p}`))).toEqual([]);
  const seqs = files.flatMap((f) => f.records.map((r) => r.seq)).sort((a, b) => a - b);
  const dupes = seqs.filter((s, i) => i > 0 && seqs[i - 1] === s);
  expect(dupes).toEqual([]);
  expect(seqs).toEqual(Array.from({ length: n }, (_, i) => first + i));
  return files;
}

/** Highest h such that 1..h are all in final files: what the queue may have acked. */
export function finalPrefix(hdfs: WebHdfs, root = '/data'): number {
  const have = new Set(finalFiles(hdfs, root).flatMap((f) => f.records.map((r) => r.seq)));
  let h = 0;
  while (have.has(h + 1)) h++;
  return h;
}

/** Samples the ack against HDFS while `runner` works; returns the acks seen ahead of final files. */
export function watchAcks(hdfs: WebHdfs, queue: Queue, name: string): () => string[] {
  const early: string[] = [];
  const timer = setInterval(() => {
    const acked = queue.cursorPosition(name);
    const prefix = finalPrefix(hdfs);
    if (acked > prefix) early.push(`acked ${acked} with only 1..${prefix} final`);
  }, 15);
  return () => {
    clearInterval(timer);
    return early;
  };
}
