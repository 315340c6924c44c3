// Drain of a queued backlog to HDFS over WebHDFS (the test emulator: a namenode and a datanode on loopback),
// side by side with a bare sequence of WebHDFS CREATE requests (two-step, same client code, data built in
// memory up front) carrying the same total bytes in the same upload size. The ratio says what the queue
// read, the encoding, the staging and the commit protocol cost on top of moving the bytes.
// The emulator is TypeScript under test/; it is transpiled (types stripped, no type check) with the
// `typescript` dev dependency into test/.peers/webhdfs/ and run in a child process, so that it does not
// share an event loop with the gateway. Works on Node 20.
// Run: npm run build && node test/bench/hdfs-drain.mjs [readings=1000000]   (or HDFS_BENCH_READINGS=...)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { validateConfig } from '../../dist/gateway/config/load.js';
import { Queue } from '../../dist/gateway/queue/queue.js';
import { Gateway } from '../../dist/gateway/runtime/gateway.js';
import { until } from '../helpers/wait.mjs';
import { encoder } from '../../dist/gateway/sinks/hdfs/encode.js';
import { WebHdfsClient } from '../../dist/gateway/sinks/hdfs/client.js';

const N = Number(process.argv[2] ?? process.env.HDFS_BENCH_READINGS ?? 1_000_000);
const UPLOAD = 4 * 1024 * 1024;
const here = dirname(fileURLToPath(import.meta.url));
const peerDir = join(here, '..', '.peers', 'webhdfs');

const reading = (i) => ({
  device: `dev-${i % 100}`,
  metric: 'temperature',
  value: 20 + (i % 100) / 10,
  unit: 'C',
  ts: 1_700_000_000_000 + i,
  source: 'bench',
});

/** Strips the emulator's types into plain ESM, plus a host script that serves it over stdin/stdout. */
function buildEmulator() {
  const src = join(here, '..', 'peers', 'webhdfs');
  mkdirSync(peerDir, { recursive: true });
  writeFileSync(join(peerDir, 'package.json'), '{ "type": "module" }\n');
  for (const f of readdirSync(src).filter((n) => n.endsWith('.ts'))) {
    const { outputText } = ts.transpileModule(readFileSync(join(src, f), 'utf8'), {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    writeFileSync(join(peerDir, f.replace(/\.ts$/, '.js')), outputText);
  }
  writeFileSync(
    join(peerDir, 'host.mjs'),
    `import { createInterface } from 'node:readline';
import { startWebHdfs } from './index.js';
const hdfs = await startWebHdfs();
hdfs.fs.mkdirs('/data', { owner: 'sluice' });
const walk = (dir) => hdfs.fs.list(dir).flatMap((n) => {
  const p = dir + '/' + n;
  return hdfs.fs.stat(p).type === 'DIRECTORY' ? (n === '_sluice' ? [] : walk(p)) : [p];
});
process.stdout.write(JSON.stringify({ namenode: hdfs.namenodeUrl }) + '\\n');
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'summary') {
    let bytes = 0, lines = 0;
    const files = hdfs.fs.stat(arg) ? walk(arg) : [];
    for (const p of files) { const b = hdfs.fs.read(p); bytes += b.length; for (const c of b) if (c === 10) lines++; }
    process.stdout.write(JSON.stringify({ files: files.length, bytes, lines, errors: hdfs.internalErrors().length }) + '\\n');
  }
}
await hdfs.close();
`,
  );
}

async function startEmulator() {
  buildEmulator();
  const child = spawn(process.execPath, [join(peerDir, 'host.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const { namenode } = JSON.parse((await lines.next()).value);
  const ask = async (cmd) => {
    child.stdin.write(`${cmd}\n`);
    return JSON.parse((await lines.next()).value);
  };
  return { namenode, ask, close: () => new Promise((r) => (child.once('close', r), child.stdin.end())) };
}

async function sluiceDrain(emu) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-hbench-'));
  const fill = Queue.open({
    dir: join(dataDir, 'queue'),
    maxBytes: 16 * 1024 ** 3,
    onFull: 'reject_new',
    noSync: true,
  });
  for (let i = 0; i < N; i += 10_000)
    await fill.append(Array.from({ length: Math.min(10_000, N - i) }, (_, k) => reading(i + k)));
  // The floor under any sink: reading the backlog out of the queue and encoding it, no HDFS at all.
  const enc = encoder('jsonl', false, 'gw-bench');
  const t0 = performance.now();
  for (let pos = 0, bytes = 0; pos < N;) {
    const batch = fill.readSized(pos, 5_000, 8 * 1024 * 1024).readings;
    for (const r of batch) bytes += enc.line(r).length;
    pos = batch[batch.length - 1].seq;
  }
  const readEncodeMs = performance.now() - t0;
  await fill.close();
  const config = validateConfig({
    gateway: { id: 'gw-bench', data_dir: dataDir },
    log: { level: 'warn' },
    sinks: {
      hdfs: {
        type: 'hdfs',
        namenodes: [emu.namenode],
        path: '/data/bench',
        auth: { type: 'pseudo', user: 'sluice' },
        upload_buffer_bytes: UPLOAD,
        // Four files that roll by count, the last exactly at N (for N divisible by 4): the clock does not
        // include waiting for the runner's idle flush (up to 1 s) to close a last, partial file.
        max_file_readings: Math.ceil(N / 4),
        idle_timeout_ms: 1,
        start_from: 'oldest',
        batch: { max_count: 5_000, max_bytes: '8MiB', linger_ms: 0 },
      },
    },
  });
  const started = performance.now();
  const gw = await Gateway.start(config);
  // Half an hour is far past any drain; a stalled one ends with where the cursor stopped.
  await until(() => gw.queue.cursorPosition('hdfs') >= N, {
    timeoutMs: 30 * 60_000,
    intervalMs: 5,
    what: `${N} readings drained`,
    state: () => gw.status().sinks[0],
  });
  const elapsed = performance.now() - started;
  await gw.stop();
  rmSync(dataDir, { recursive: true, force: true });
  return { ms: elapsed, readEncodeMs };
}

/** The same bytes as plain CREATEs of UPLOAD bytes each, one after the other, data ready in memory. */
async function bareCreates(emu, totalBytes) {
  const client = new WebHdfsClient({
    namenodes: [emu.namenode],
    auth: () => ({ 'user.name': 'sluice' }),
    requestTimeoutMs: 60_000,
  });
  const line = Buffer.from(
    `${JSON.stringify({ id: 'gw-bench:1', gateway: 'gw-bench', seq: 1, ...reading(1) })}\n`,
  );
  const chunk = Buffer.alloc(UPLOAD);
  for (let o = 0; o < UPLOAD; o += line.length) line.copy(chunk, o);
  const started = performance.now();
  let i = 0;
  for (let sent = 0; sent < totalBytes; sent += UPLOAD) {
    const data = totalBytes - sent < UPLOAD ? chunk.subarray(0, totalBytes - sent) : chunk;
    await client.create(`/data/bare/f-${i++}`, data, { overwrite: false });
  }
  const elapsed = performance.now() - started;
  client.close();
  return { elapsed, requests: i };
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const mb = (n) => (n / 1e6).toFixed(1);

const emu = await startEmulator();
try {
  const { ms, readEncodeMs } = await sluiceDrain(emu);
  const out = await emu.ask('summary /data/bench');
  if (out.lines !== N) throw new Error(`expected ${N} lines in final files, found ${out.lines}`);
  const bare = await bareCreates(emu, out.bytes);
  const sluiceBps = out.bytes / (ms / 1000);
  const bareBps = out.bytes / (bare.elapsed / 1000);
  console.log(
    `hdfs drain, ${fmt(N)} readings, ${mb(out.bytes)} MB in ${out.files} final files (node ${process.version})`,
  );
  console.log(
    `  sluice gateway -> WebHDFS : ${fmt(N / (ms / 1000))} readings/s, ${mb(sluiceBps)} MB/s (${(ms / 1000).toFixed(2)} s)`,
  );
  console.log(
    `  bare CREATE x ${bare.requests} (4 MiB) : ${fmt(N / (bare.elapsed / 1000))} readings/s equivalent, ${mb(bareBps)} MB/s (${(bare.elapsed / 1000).toFixed(2)} s)`,
  );
  console.log(
    `  queue read + encode only : ${fmt(N / (readEncodeMs / 1000))} readings/s (${(readEncodeMs / 1000).toFixed(2)} s, no HDFS)`,
  );
  console.log(
    `  ratio sluice / bare CREATE: ${(sluiceBps / bareBps).toFixed(3)}; sluice / (read + encode): ${(readEncodeMs / ms).toFixed(2)}`,
  );
  if (out.errors > 0) throw new Error(`the emulator reported ${out.errors} internal errors`);
} finally {
  await emu.close();
}
