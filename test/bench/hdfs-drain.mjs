// Drain of a queued backlog to a real Apache Hadoop 3.5 cluster (MiniDFSCluster from test/peers/hdfs: one
// NameNode, 3 DataNodes on this host, replication 3, 128 MiB blocks) through the Sluice gateway's HDFS sink
// over WebHDFS, beside the same bytes in the same number of files written by Hadoop's own client inside the
// launcher JVM, in the same run (the ceiling): DistributedFileSystem, RPC to the NameNode and
// DataTransferProtocol straight into the DataNode pipeline, the fastest way into HDFS there is. Also shown,
// not the ceiling: Hadoop's WebHdfsFileSystem, the same REST protocol the sink speaks.
// Several runs; the medians and ranges decide. The peer is TypeScript: a module hook strips its types with
// the `typescript` dev dependency as it loads (Node 20 has no type stripping of its own).
// Run: npm run build && node test/bench/hdfs-drain.mjs [readings=1000000] [runs=3]
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { validateConfig } from '../../dist/gateway/config/load.js';
import { Queue } from '../../dist/gateway/queue/queue.js';
import { Gateway } from '../../dist/gateway/runtime/gateway.js';
import { parseRangedName } from '../../dist/gateway/sinks/ranged-names.js';
import { WebHdfsClient } from '../../dist/gateway/sinks/hdfs/client.js';
import { encoder } from '../../dist/gateway/sinks/hdfs/encode.js';
import { until } from '../helpers/wait.mjs';

const N = Number(process.argv[2] ?? process.env.HDFS_BENCH_READINGS ?? 1_000_000);
const RUNS = Number(process.argv[3] ?? 3);
const FILES = 4;
const UPLOAD = 4 * 1024 * 1024;
const BLOCK = 128 * 1024 * 1024;
const GOAL = 0.5;

// `import './x.js'` finds x.ts; .ts is transpiled (types stripped, no type check) on load.
const hooks = `
import { readFile } from 'node:fs/promises';
let ts;
export async function initialize(data) { ts = (await import(data.typescript)).default; }
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (!specifier.endsWith('.js') || !context.parentURL?.endsWith('.ts')) throw err;
    return next(specifier.slice(0, -3) + '.ts', context);
  }
}
export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const { outputText } = ts.transpileModule(await readFile(new URL(url), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`, {
  parentURL: import.meta.url,
  data: { typescript: pathToFileURL(createRequire(import.meta.url).resolve('typescript')).href },
});
const { startHdfs } = await import('../peers/hdfs/index.ts');
const { startFaultProxy } = await import('../peers/hdfs/fault-proxy.ts');
/** HDFS_BENCH_OPS=1: the sink goes through the (pass-through) fault proxy, to count its WebHDFS operations. */
const COUNT_OPS = process.env.HDFS_BENCH_OPS === '1';

const reading = (i) => ({
  device: `dev-${i % 100}`,
  metric: 'temperature',
  value: 20 + (i % 100) / 10,
  unit: 'C',
  ts: 1_700_000_000_000 + i,
  source: 'bench',
});

/** A data dir whose queue holds the N readings (filled before any clock starts). */
async function backlog() {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-hbench-'));
  const q = Queue.open({
    dir: join(dataDir, 'queue'),
    maxBytes: 16 * 1024 ** 3,
    onFull: 'reject_new',
    noSync: true,
  });
  for (let i = 0; i < N; i += 10_000)
    await q.append(Array.from({ length: Math.min(10_000, N - i) }, (_, k) => reading(i + k)));
  await q.close();
  return dataDir;
}

/** The floor under any sink: reading the backlog out of the queue and encoding it, no HDFS at all. */
async function readEncode(dataDir) {
  const q = Queue.open({
    dir: join(dataDir, 'queue'),
    maxBytes: 16 * 1024 ** 3,
    onFull: 'reject_new',
    readOnly: true,
  });
  // The sink's own encoder, taken at every upload_buffer_bytes as the sink takes it.
  const file = encoder('jsonl', 'none', 'gw-bench').open();
  const t0 = performance.now();
  let pending = 0;
  for (let pos = 0; pos < N;) {
    const batch = q.readSized(pos, 5_000, 8 * 1024 * 1024).readings;
    for (const r of batch) {
      pending += file.add(r);
      if (pending >= UPLOAD) {
        await file.take();
        pending = 0;
      }
    }
    pos = batch[batch.length - 1].seq;
  }
  await file.take();
  const ms = performance.now() - t0;
  await q.close();
  return ms;
}

/** The sink's own upload pattern with nothing else: per file a CREATE then APPENDs of UPLOAD bytes, data ready
 * in memory, one request at a time, through the sink's WebHDFS client. */
async function bareUploads(namenode, dir, totalBytes) {
  const client = new WebHdfsClient({
    namenodes: [namenode],
    auth: () => ({ 'user.name': 'sluice' }),
    requestTimeoutMs: 120_000,
  });
  const chunk = Buffer.alloc(UPLOAD, '{"id":"gw-bench:1","gateway":"gw-bench","seq":1,"device":"dev-1"}\n');
  const t0 = performance.now();
  let requests = 0;
  for (let f = 0; f < FILES; f++) {
    const size = Math.floor(totalBytes / FILES) + (f === FILES - 1 ? totalBytes % FILES : 0);
    for (let o = 0; o < size; o += UPLOAD) {
      const data = chunk.subarray(0, Math.min(UPLOAD, size - o));
      if (o === 0)
        await client.create(`${dir}/f-${f}`, data, { overwrite: false, replication: 3, blockSize: BLOCK });
      else await client.append(`${dir}/f-${f}`, data);
      requests++;
    }
  }
  const ms = performance.now() - t0;
  client.close();
  return { ms, requests };
}

async function sluiceDrain(hdfs, namenode, dir) {
  const dataDir = await backlog();
  const readEncodeMs = await readEncode(dataDir);
  const config = validateConfig({
    gateway: { id: 'gw-bench', data_dir: dataDir },
    log: { level: 'warn' },
    sinks: {
      hdfs: {
        type: 'hdfs',
        namenodes: [namenode],
        path: dir,
        auth: { type: 'pseudo', user: 'sluice' },
        replication: 3,
        block_size: BLOCK,
        upload_buffer_bytes: UPLOAD,
        request_timeout_ms: 120_000,
        // Files that roll by count, the last exactly at N (N divisible by FILES): the clock does not include
        // waiting for the runner's idle flush to close a last, partial file.
        max_file_readings: Math.ceil(N / FILES),
        idle_timeout_ms: 1,
        start_from: 'oldest',
        batch: { max_count: 5_000, max_bytes: '8MiB', linger_ms: 0 },
      },
    },
  });
  const started = performance.now();
  const gw = await Gateway.start(config);
  await until(() => gw.queue.cursorPosition('hdfs') >= N, {
    timeoutMs: 30 * 60_000,
    intervalMs: 5,
    what: `${N} readings drained`,
    state: () => gw.status().sinks[0],
  });
  const ms = performance.now() - started;
  await gw.stop();
  rmSync(dataDir, { recursive: true, force: true });
  // What landed, seen by Hadoop: the files' lengths, and their ranged names covering 1..N once each.
  const files = (await hdfs.ls(dir)).filter((f) => f.type === 'FILE');
  const ranges = files.map((f) => parseRangedName(f.name)).sort((a, b) => a.first - b.first);
  let next = 1;
  for (const r of ranges) {
    if (r.first !== next) throw new Error(`final files do not cover 1..${N} once: ${JSON.stringify(ranges)}`);
    next = r.last + 1;
  }
  if (next !== N + 1) throw new Error(`final files end at ${next - 1}, not ${N}`);
  if (files.some((f) => f.replication !== 3)) throw new Error('a final file is not replicated 3 times');
  return { ms, readEncodeMs, bytes: files.reduce((n, f) => n + f.length, 0), files: files.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const mbs = (bytes, ms) => bytes / 1e6 / (ms / 1000);
const range = (xs, d = 1) => `${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)}`;

const hdfs = await startHdfs({ variant: 'simple', heap: '512m', commandTimeoutMs: 30 * 60_000 });
try {
  await hdfs.must('mkdir', '/bench', '777');
  const direct = (await hdfs.webhdfs()).replace(/\/webhdfs\/v1$/, '');
  const proxy = COUNT_OPS ? await startFaultProxy([direct]) : undefined;
  const namenode = proxy?.namenodes[0] ?? direct;
  const rows = [];
  for (let run = 1; run <= RUNS; run++) {
    const s = await sluiceDrain(hdfs, namenode, `/bench/sluice-${run}`);
    if (proxy)
      console.log(
        `run ${run}: sluice's operations ${JSON.stringify(proxy.counters())}, ms in each ${JSON.stringify(proxy.timings(), (k, v) => (typeof v === 'number' ? Math.round(v) : v))}`,
      );
    const dfs = await hdfs.must(
      'bench-write',
      `/bench/dfs-${run}`,
      String(s.bytes),
      String(FILES),
      'dfs',
      String(BLOCK),
    );
    const web = await hdfs.must(
      'bench-write',
      `/bench/web-${run}`,
      String(s.bytes),
      String(FILES),
      'webhdfs',
      String(BLOCK),
    );
    const bare = await bareUploads(namenode, `/bench/bare-${run}`, s.bytes);
    for (const d of ['sluice', 'dfs', 'web', 'bare']) await hdfs.must('rm', `/bench/${d}-${run}`);
    const row = {
      run,
      bytes: s.bytes,
      sluiceMs: s.ms,
      sluice: mbs(s.bytes, s.ms),
      readings: N / (s.ms / 1000),
      dfs: mbs(s.bytes, Number(dfs.ms)),
      web: mbs(s.bytes, Number(web.ms)),
      bare: mbs(s.bytes, bare.ms),
      readEncode: N / (s.readEncodeMs / 1000),
    };
    row.ratio = row.sluice / row.dfs;
    row.floorRatio = row.readings / row.readEncode;
    rows.push(row);
    console.log(
      `run ${run}: ${(s.bytes / 1e6).toFixed(1)} MB in ${s.files} files; sluice ${(s.ms / 1000).toFixed(2)} s ` +
        `${fmt(row.readings)} readings/s ${row.sluice.toFixed(1)} MB/s | Hadoop DFS client ${(Number(dfs.ms) / 1000).toFixed(2)} s ` +
        `${row.dfs.toFixed(1)} MB/s | Hadoop WebHdfsFileSystem ${(Number(web.ms) / 1000).toFixed(2)} s ${row.web.toFixed(1)} MB/s | sink's client, CREATE + APPEND x ${bare.requests} ` +
        `${row.bare.toFixed(1)} MB/s | queue read + encode ${fmt(row.readEncode)} readings/s | ratio ${row.ratio.toFixed(2)}`,
    );
  }
  const col = (k) => rows.map((r) => r[k]);
  const ratio = median(col('ratio'));
  console.log(
    `hdfs drain to a real Hadoop 3.5 MiniDFSCluster (3 DataNodes on one host, replication 3), ${fmt(N)} readings x ${RUNS} runs (node ${process.version}):`,
  );
  console.log(
    `  sluice gateway -> WebHDFS   : median ${fmt(median(col('readings')))} readings/s (${fmt(Math.min(...col('readings')))}-${fmt(Math.max(...col('readings')))}), ${median(col('sluice')).toFixed(1)} MB/s (${range(col('sluice'))})`,
  );
  console.log(
    `  Hadoop DFS client (ceiling) : median ${median(col('dfs')).toFixed(1)} MB/s (${range(col('dfs'))})`,
  );
  console.log(
    `  Hadoop WebHdfsFileSystem    : median ${median(col('web')).toFixed(1)} MB/s (${range(col('web'))})`,
  );
  console.log(
    `  sink's client alone, CREATE + APPENDs of ${UPLOAD / 2 ** 20} MiB, no queue, no commit: median ${median(col('bare')).toFixed(1)} MB/s (${range(col('bare'))})`,
  );
  console.log(
    `  queue read + encode only, no HDFS: median ${fmt(median(col('readEncode')))} readings/s; sluice / that floor: median ${median(col('floorRatio')).toFixed(2)}`,
  );
  console.log(
    `  ratio sluice / DFS client   : median ${ratio.toFixed(2)} (${range(col('ratio'), 2)}); goal >= ${GOAL}: ${ratio >= GOAL ? 'MET' : 'NOT MET'}`,
  );
  await proxy?.close();
} finally {
  await hdfs.close();
}
