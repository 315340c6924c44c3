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
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { validateConfig } from '../../dist/gateway/config/load.js';
import { Queue } from '../../dist/gateway/queue/queue.js';
import { Gateway } from '../../dist/gateway/runtime/gateway.js';
import { parseRangedName } from '../../dist/gateway/sinks/ranged-names.js';
import { WebHdfsClient } from '../../dist/gateway/sinks/hdfs/client.js';
import { encoder } from '../../dist/gateway/sinks/hdfs/encode.js';
import { toRecord } from '../../dist/gateway/reading.js';
import { until } from '../helpers/wait.mjs';
import { figure, goal, record } from './results.mjs';

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

/**
 * The floor under any sink: reading the backlog out of the queue and encoding it, no HDFS at all; the time in
 * the queue's reads (LMDB + CBOR decode) and in the encoder, each counted apart.
 */
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
  let readMs = 0;
  let genericMs = 0;
  for (let pos = 0; pos < N;) {
    const r0 = performance.now();
    const batch = q.readSized(pos, 5_000, 8 * 1024 * 1024).readings;
    readMs += performance.now() - r0;
    for (const r of batch) {
      pending += file.add(r);
      if (pending >= UPLOAD) {
        await file.take();
        pending = 0;
      }
    }
    // Beside it, off the clock above: the generic encoding the sink used before (a record object, then
    // JSON.stringify, lines joined), on the same batch.
    const g0 = performance.now();
    let lines = [];
    let size = 0;
    for (const r of batch) {
      const line = `${JSON.stringify(toRecord('gw-bench', r))}\n`;
      lines.push(line);
      size += Buffer.byteLength(line);
      if (size >= UPLOAD) {
        Buffer.from(lines.join(''));
        lines = [];
        size = 0;
      }
    }
    Buffer.from(lines.join(''));
    genericMs += performance.now() - g0;
    pos = batch[batch.length - 1].seq;
  }
  await file.take();
  const ms = performance.now() - t0 - genericMs;
  await q.close();
  return { ms, readMs, encodeMs: ms - readMs, genericMs };
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

/** HDFS_BENCH_PROFILE=<dir>: a CPU profile of this process over each drain (the gateway's side only). */
async function startProfile() {
  const dir = process.env.HDFS_BENCH_PROFILE;
  if (!dir) return undefined;
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `drain-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      console.log(`cpu profile of the drain: ${file}`);
    },
  };
}

async function sluiceDrain(hdfs, namenode, dir) {
  const dataDir = await backlog();
  const floor = await readEncode(dataDir);
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
  const profile = await startProfile();
  const started = performance.now();
  const gw = await Gateway.start(config);
  await until(() => gw.queue.cursorPosition('hdfs') >= N, {
    timeoutMs: 30 * 60_000,
    intervalMs: 5,
    what: `${N} readings drained`,
    state: () => gw.status().sinks[0],
  });
  const ms = performance.now() - started;
  await profile?.stop();
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
  return { ms, floor, bytes: files.reduce((n, f) => n + f.length, 0), files: files.length };
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
      readEncode: N / (s.floor.ms / 1000),
      read: N / (s.floor.readMs / 1000),
      encode: N / (s.floor.encodeMs / 1000),
      generic: N / (s.floor.genericMs / 1000),
    };
    // The DFS client's rate in readings of the same size: what the sink would have to reach.
    row.dfsReadings = (row.dfs * 1e6) / (s.bytes / N);
    // The ratio a sink could reach if HDFS cost it nothing: queue read + encode alone against the DFS client.
    row.floorCeiling = row.readEncode / row.dfsReadings;
    row.ratio = row.sluice / row.dfs;
    row.floorRatio = row.readings / row.readEncode;
    rows.push(row);
    console.log(
      `run ${run}: ${(s.bytes / 1e6).toFixed(1)} MB in ${s.files} files; sluice ${(s.ms / 1000).toFixed(2)} s ` +
        `${fmt(row.readings)} readings/s ${row.sluice.toFixed(1)} MB/s | Hadoop DFS client ${(Number(dfs.ms) / 1000).toFixed(2)} s ` +
        `${row.dfs.toFixed(1)} MB/s | Hadoop WebHdfsFileSystem ${(Number(web.ms) / 1000).toFixed(2)} s ${row.web.toFixed(1)} MB/s | sink's client, CREATE + APPEND x ${bare.requests} ` +
        `${row.bare.toFixed(1)} MB/s | queue read + encode ${fmt(row.readEncode)} readings/s (read ${fmt(row.read)}, encode ${fmt(row.encode)}, generic JSON.stringify encode ${fmt(row.generic)}) | ratio ${row.ratio.toFixed(2)}`,
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
    `  queue read + encode only, no HDFS: median ${fmt(median(col('readEncode')))} readings/s (queue read alone ${fmt(median(col('read')))}, encode alone ${fmt(median(col('encode')))}, the generic JSON.stringify(toRecord) encode alone ${fmt(median(col('generic')))}); sluice / that floor: median ${median(col('floorRatio')).toFixed(2)}`,
  );
  console.log(
    `  the DFS client in readings: median ${fmt(median(col('dfsReadings')))} readings/s; queue read + encode / that, the best ratio any sink could reach here: median ${median(col('floorCeiling')).toFixed(2)} (${range(col('floorCeiling'), 2)})`,
  );
  console.log(`  ratio sluice / DFS client   : median ${ratio.toFixed(2)} (${range(col('ratio'), 2)})`);
  const g = goal(`hdfs drain >= ${GOAL}x Hadoop's DFS client`, ratio, '>=', GOAL);
  const load = loadavg();
  console.log(`  load average ${load.map((x) => x.toFixed(2)).join(' ')}`);
  record('hdfs-drain', {
    params: { readings: N, runs: RUNS, files: FILES, uploadBytes: UPLOAD, blockSize: BLOCK, replication: 3 },
    figures: [
      figure('sluice_rps', 'Sluice HDFS sink drain', col('readings'), 'readings/s'),
      figure('sluice_mbs', 'Sluice HDFS sink drain', col('sluice'), 'MB/s'),
      figure('dfs_mbs', "Hadoop's DistributedFileSystem (ceiling)", col('dfs'), 'MB/s'),
      figure('webhdfs_mbs', "Hadoop's WebHdfsFileSystem", col('web'), 'MB/s'),
      figure('bare_mbs', "The sink's WebHDFS client alone, CREATE + APPENDs", col('bare'), 'MB/s'),
      figure('read_encode_rps', 'Queue read + JSON-lines encode, no HDFS', col('readEncode'), 'readings/s'),
      figure('read_rps', 'Queue read alone (LMDB + CBOR decode)', col('read'), 'readings/s'),
      figure('encode_rps', 'JSON-lines encode alone', col('encode'), 'readings/s'),
      figure(
        'generic_encode_rps',
        'JSON.stringify(toRecord) encode alone (before)',
        col('generic'),
        'readings/s',
      ),
      figure('dfs_rps', 'The DFS client in readings of the same size', col('dfsReadings'), 'readings/s'),
      figure('ratio', 'Sluice / DFS client', col('ratio'), 'x'),
      figure(
        'floor_ceiling',
        'Queue read + encode / DFS client (best ratio any sink could reach)',
        col('floorCeiling'),
        'x',
      ),
    ],
    goals: [g],
    notes: [`load average at the end ${load.map((x) => x.toFixed(2)).join(' ')}`, `node ${process.version}`],
  });
  await proxy?.close();
} finally {
  await hdfs.close();
}
