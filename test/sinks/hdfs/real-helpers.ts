// Shared by the HDFS sink tests against the real Hadoop cluster (test/peers/hdfs): a sink pointed at the
// active NameNode's WebHDFS, and the checks every test ends with, read back through Hadoop's own FileSystem
// client (the peer's `ls`/`read`), never through the sink's WebHDFS client: every reading in exactly one
// final file, and no empty, torn, misnamed or stray file.
import { expect } from 'vitest';
import { silentLogger } from '../../../gateway/observe/log.js';
import { schema, type HdfsSinkConfig } from '../../../gateway/sinks/hdfs/schema.js';
import { HdfsSink } from '../../../gateway/sinks/hdfs/sink.js';
import { noMetrics } from '../../../gateway/metrics-spec.js';
import type { HdfsPeer } from '../../peers/hdfs/index.js';
import { tempDir } from '../../helpers/tmp.js';
import { checkFinalFile, type FinalFile } from './helpers.js';

export const USER = 'sluice';

/** The namenode base URLs the sink is configured with (http://host:port), NameNode 0 first. */
export async function namenodeUrls(hdfs: HdfsPeer): Promise<string[]> {
  const scheme = hdfs.variant === 'secure' ? 'https' : 'http';
  return (await hdfs.state()).namenodes.map((n) => `${scheme}://${scheme === 'https' ? n.https : n.http}`);
}

/** Makes `dir` as the superuser and hands it to the sink's user, as an operator would. */
export async function ownedDir(hdfs: HdfsPeer, dir: string): Promise<void> {
  await hdfs.must('mkdir', dir, '755');
  await hdfs.must('chown', dir, USER, 'supergroup');
}

export function realConfig(namenodes: readonly string[], over: Record<string, unknown> = {}): HdfsSinkConfig {
  return schema.parse({
    type: 'hdfs',
    namenodes,
    path: '/data/out',
    auth: { type: 'pseudo', user: USER },
    request_timeout_ms: 10_000,
    ...over,
  });
}

export function realSink(
  namenodes: readonly string[],
  over: Record<string, unknown> = {},
  gatewayId = 'gw1',
  name = 'hdfs',
): HdfsSink {
  return new HdfsSink(name, realConfig(namenodes, over), {
    gatewayId,
    dataDir: tempDir(),
    log: silentLogger,
    metrics: noMetrics,
  });
}

/** Every file below `dir` through Hadoop's FileSystem listing, the state directories (`_sluice`) left out. */
export async function walk(hdfs: HdfsPeer, dir: string, skipState = true): Promise<string[]> {
  const out: string[] = [];
  for (const s of await hdfs.ls(dir)) {
    const path = `${dir === '/' ? '' : dir}/${s.name}`;
    if (s.type === 'DIRECTORY') {
      if (!(skipState && s.name === '_sluice')) out.push(...(await walk(hdfs, path, skipState)));
    } else out.push(path);
  }
  return out;
}

/** Whether `path` exists, by listing its parent through FileSystem. */
export async function exists(hdfs: HdfsPeer, path: string): Promise<boolean> {
  const at = path.lastIndexOf('/');
  const parent = at <= 0 ? '/' : path.slice(0, at);
  const answer = await hdfs.command('ls', parent);
  if (!answer.ok) return false;
  return (answer.files as { name: string }[]).some((f) => f.name === path.slice(at + 1));
}

export type RealFinalFile = FinalFile;

/** Reads every file below `root` (outside the state directory) through FileSystem and checks each one. */
export async function realFinalFiles(hdfs: HdfsPeer, root: string): Promise<RealFinalFile[]> {
  const files: RealFinalFile[] = [];
  for (const path of (await walk(hdfs, root)).sort()) files.push(await readFinalFile(hdfs, path));
  return files;
}

/** Reads one final file through FileSystem and says what is wrong with it, if anything. */
export async function readFinalFile(hdfs: HdfsPeer, path: string): Promise<RealFinalFile> {
  return checkFinalFile(path, await hdfs.read(path));
}

/** Asserts the union of final files below `root` is exactly seqs 1..n, once each, in sound files. */
export async function expectRealExactlyOnce(
  hdfs: HdfsPeer,
  root: string,
  n: number,
): Promise<RealFinalFile[]> {
  const files = await realFinalFiles(hdfs, root);
  expect(files.flatMap((f) => f.problems.map((p) => `${f.path}: ${p}`))).toEqual([]);
  const seqs = files.flatMap((f) => f.records.map((r) => r.seq)).sort((a, b) => a - b);
  expect(seqs.filter((s, i) => i > 0 && seqs[i - 1] === s)).toEqual([]);
  expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  return files;
}

/** Highest h such that 1..h are all in final files below `root`: what the queue may have acked. */
export async function realFinalPrefix(hdfs: HdfsPeer, root: string): Promise<number> {
  const have = new Set((await realFinalFiles(hdfs, root)).flatMap((f) => f.records.map((r) => r.seq)));
  let h = 0;
  while (have.has(h + 1)) h++;
  return h;
}
