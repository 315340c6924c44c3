// Shared by the HDFS sink tests against the real Hadoop cluster (test/peers/hdfs): a sink pointed at the
// active NameNode's WebHDFS, and the checks every test ends with, read back through Hadoop's own FileSystem
// client (the peer's `ls`/`read`), never through the sink's WebHDFS client: every reading in exactly one
// final file, and no empty, torn, misnamed or stray file.
import { request } from 'node:http';
import { expect } from 'vitest';
import type { Queue } from '../../../gateway/queue/queue.js';
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

/** Asserts the union of final files below `root` is exactly seqs first..first+n-1, once each, in sound files. */
export async function expectRealExactlyOnce(
  hdfs: HdfsPeer,
  root: string,
  n: number,
  first = 1,
): Promise<RealFinalFile[]> {
  const files = await realFinalFiles(hdfs, root);
  expect(files.flatMap((f) => f.problems.map((p) => `${f.path}: ${p}`))).toEqual([]);
  const seqs = files.flatMap((f) => f.records.map((r) => r.seq)).sort((a, b) => a - b);
  expect(seqs.filter((s, i) => i > 0 && seqs[i - 1] === s)).toEqual([]);
  expect(seqs).toEqual(Array.from({ length: n }, (_, i) => first + i));
  return files;
}

/** Highest h such that 1..h are all in final files below `root`: what the queue may have acked. */
export async function realFinalPrefix(hdfs: HdfsPeer, root: string): Promise<number> {
  const have = new Set((await realFinalFiles(hdfs, root)).flatMap((f) => f.records.map((r) => r.seq)));
  let h = 0;
  while (have.has(h + 1)) h++;
  return h;
}

/** One final-file reader per test: final files are never rewritten, so each is read and checked once. */
export function finalTracker(hdfs: HdfsPeer, root: string) {
  const checked = new Map<string, RealFinalFile>();
  const files = async (): Promise<RealFinalFile[]> => {
    const paths = (await walk(hdfs, root)).sort();
    for (const p of paths) if (!checked.has(p)) checked.set(p, await readFinalFile(hdfs, p));
    return paths.map((p) => checked.get(p)!);
  };
  return {
    files,
    /** Highest h such that 1..h are all in final files: what the queue may have acked. */
    async prefix(): Promise<number> {
      const have = new Set((await files()).flatMap((f) => f.records.map((r) => r.seq)));
      let h = 0;
      while (have.has(h + 1)) h++;
      return h;
    },
  };
}

/** Samples the queue's ack against the final files while a runner works; returns the acks seen ahead. */
export function watchRealAcks(
  hdfs: HdfsPeer,
  queue: Queue,
  name: string,
  root: string,
): () => Promise<string[]> {
  const finals = finalTracker(hdfs, root);
  const early: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      // The ack is read first: the final files can only have grown by the time they are listed.
      const acked = queue.cursorPosition(name);
      const prefix = await finals.prefix();
      if (acked > prefix) early.push(`acked ${acked} with only 1..${prefix} final`);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    return early;
  };
}

/** A raw WebHDFS call as the sink's user (node:http: a DataNode's unsolicited 100 Continue is fine there),
 * following the NameNode's redirect for CREATE; for setting up what a crash leaves behind. */
export async function rawWebHdfs(
  namenode: string,
  method: string,
  path: string,
  op: string,
  params: Record<string, string> = {},
  content?: string,
): Promise<{ status: number; json: unknown }> {
  const body = content === undefined ? undefined : Buffer.from(content);
  const url = new URL(`${namenode}/webhdfs/v1${path}`);
  url.searchParams.set('op', op);
  url.searchParams.set('user.name', USER);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const send = (to: URL, data?: Buffer) =>
    new Promise<{ status: number; location?: string; text: string }>((resolve, reject) => {
      const req = request(to, { method, headers: { 'Content-Length': String(data?.length ?? 0) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            location: res.headers.location,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(data);
    });
  let ans = await send(url);
  if (ans.status === 307 && ans.location !== undefined) ans = await send(new URL(ans.location), body);
  return { status: ans.status, json: ans.text === '' ? undefined : (JSON.parse(ans.text) as unknown) };
}
