// Shared by the HDFS sink tests: a runner around a fresh queue, and the check of one final file (sound, named
// after its content) that every test ends with. The real cluster's side (a sink against it, reading final
// files back through Hadoop's FileSystem) is in real-helpers.ts.
import { gunzipSync } from 'node:zlib';
import { silentLogger } from '../../../gateway/observe/log.js';
import { noMetrics } from '../../../gateway/metrics-spec.js';
import { Queue } from '../../../gateway/queue/queue.js';
import type { ReadingRecord } from '../../../gateway/reading.js';
import { SinkRunner } from '../../../gateway/runtime/sink-runner.js';
import { parseRangedName } from '../../../gateway/sinks/ranged-names.js';
import { HdfsSink } from '../../../gateway/sinks/hdfs/sink.js';
import { readings } from '../../helpers/readings.js';
import { tempDir } from '../../helpers/tmp.js';

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

export interface FinalFile {
  readonly path: string;
  readonly first: number;
  readonly last: number;
  readonly bytes: number;
  readonly records: ReadingRecord[];
  /** What is wrong with it: empty, torn, unparsable, or a name that does not match its content. */
  readonly problems: string[];
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
