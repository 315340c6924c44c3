// Serial ingest cost: lines per second and per CPU-second from a pty, through the `serial` source (lines
// driver, JSON) into the durable queue (fsync on), side by side with `cat` reading the same kind of pty into a
// file as the floor (the least any reader can spend). Both read a socat pty pair fed by `cat FILE > sim`, so
// the writer and socat cost the same in both cases and are not counted; the figure that matters is the CPU
// ratio. cat's CPU comes from /proc/<pid>/stat (utime + stime, in clock ticks), Sluice's from process.cpuUsage().
// Run: npm run build && node test/bench/serial-ingest.mjs [lines=200000] [rounds=3] [commit_mode=auto]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../dist/gateway/config/load.js';
import { silentLogger } from '../../dist/gateway/observe/log.js';
import { Gateway } from '../../dist/gateway/runtime/gateway.js';
import { until } from '../helpers/wait.mjs';
import { TICKS, procCpuSeconds } from './proc-cpu.mjs';
import { figure, record } from './results.mjs';

const LINES = Number(process.argv[2] ?? 200_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const COMMIT_MODE = process.argv[4] ?? 'auto';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Polled every 2 ms: the wall time of a run is read right after a wait ends.
const benchWait = { timeoutMs: 120_000, intervalMs: 2 };
// socat outlives this process if not killed: stop every child on the way out, failure included.
const children = new Set();
process.on('exit', () => children.forEach((c) => c.kill()));
const track = (child) => (children.add(child), child.once('exit', () => children.delete(child)), child);

/** A socat pty pair with links in `dir`; resolves once both ends exist. */
async function ptyPair(dir) {
  const child = track(
    spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${dir}/dev`, `pty,raw,echo=0,link=${dir}/sim`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  child.on('error', (err) => {
    throw new Error(`socat: ${err.message} (apt-get install -y socat)`);
  });
  let log = '';
  await new Promise((resolve) =>
    child.stderr.on('data', (t) => {
      log += t;
      if (log.includes('starting data transfer loop')) resolve();
    }),
  );
  const exited = new Promise((r) => child.once('exit', r));
  return { dev: `${dir}/dev`, sim: `${dir}/sim`, stop: () => (child.kill(), exited) };
}

/** `cat FILE > sim`: the simulated sensor, as fast as the pty lets it write. */
function writer(file, sim) {
  const child = track(spawn('sh', ['-c', `exec cat '${file}' > '${sim}'`], { stdio: 'inherit' }));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exit ${code}`)))),
  );
}

async function floorCat(file, bytes) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-cat-'));
  const pair = await ptyPair(dir);
  const out = join(dir, 'out');
  const cat = track(spawn('sh', ['-c', `exec cat '${pair.dev}' > '${out}'`], { stdio: 'inherit' }));
  await sleep(100);
  const started = performance.now();
  const written = writer(file, pair.sim);
  // Before cat's first write the file may not exist yet: until() takes ENOENT as "not yet".
  await until(() => statSync(out).size >= bytes, { ...benchWait, what: 'cat read everything' });
  const wall = (performance.now() - started) / 1000;
  const cpu = procCpuSeconds(cat.pid);
  await written;
  cat.kill();
  await pair.stop();
  rmSync(dir, { recursive: true, force: true });
  return { wall, cpu };
}

async function sluice(file, expectedReadings) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-serial-'));
  const pair = await ptyPair(dir);
  const config = validateConfig({
    gateway: { id: 'bench', data_dir: join(dir, 'data') },
    queue: { commit_mode: COMMIT_MODE },
    sources: {
      sensor: {
        type: 'serial',
        path: pair.dev,
        baud_rate: 115200,
        driver: { type: 'lines' },
        // A pty delivers far faster than any serial line; hold everything, so that every line is measured
        // all the way to disk rather than some counted as dropped.
        max_pending_readings: 10_000_000,
      },
    },
  });
  const gw = await Gateway.start(config, { log: silentLogger });
  await until(() => gw.status().sources[0].health.port.connected, { ...benchWait, what: 'port open' });
  const commits0 = gw.queue.stats().commits;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const written = writer(file, pair.sim);
  // Every reading is either durable or counted as dropped (the pty can outrun the disk; a sensor cannot wait).
  const port = () => gw.status().sources[0].health.port;
  await until(() => port().readings + port().dropped_overflow >= expectedReadings, {
    ...benchWait,
    what: 'all readings accounted',
  });
  const wall = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  const commits = gw.queue.stats().commits - commits0;
  const { dropped_overflow: dropped, bad_frames: bad } = port();
  await written;
  await gw.stop();
  await pair.stop();
  rmSync(dir, { recursive: true, force: true });
  if (bad !== 0) throw new Error(`${bad} bad frames: the bench's lines should all be valid`);
  return { wall, cpu, commits, dropped };
}

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-lines-'));
const file = join(dir, 'lines.jsonl');
const text = Array.from(
  { length: LINES },
  (_, i) => `{"device":"s${i % 8}","temp":${(20 + (i % 97) / 10).toFixed(1)},"hum":${40 + (i % 13)}}\n`,
).join('');
writeFileSync(file, text);
const bytes = Buffer.byteLength(text);
console.log(
  `serial ingest: ${LINES} JSON lines (${(bytes / 1e6).toFixed(1)} MB, 2 readings each) through a socat pty, ${ROUNDS} rounds, best CPU kept`,
);

let bestCat;
let bestSluice;
const cats = [];
const sluices = [];
for (let r = 0; r < ROUNDS; r++) {
  const c = await floorCat(file, bytes);
  const s = await sluice(file, LINES * 2);
  cats.push(c);
  sluices.push(s);
  if (!bestCat || c.cpu < bestCat.cpu) bestCat = c;
  if (!bestSluice || s.cpu < bestSluice.cpu) bestSluice = s;
}
rmSync(dir, { recursive: true, force: true });

const row = (name, m) =>
  `${name.padEnd(28)} wall ${m.wall.toFixed(2).padStart(6)} s  ${Math.round(LINES / m.wall)
    .toLocaleString('en')
    .padStart(9)} lines/s  cpu ${m.cpu.toFixed(2).padStart(5)} s  ${Math.round(
    LINES / Math.max(m.cpu, 1 / TICKS),
  )
    .toLocaleString('en')
    .padStart(10)} lines/cpu-s`;
console.log(row('cat (floor)', bestCat));
console.log(row('sluice serial -> queue', bestSluice));
console.log(
  `queue commits (commit_mode ${COMMIT_MODE}): ${bestSluice.commits} (${Math.round(LINES / bestSluice.commits)} lines per fsync'd commit); readings dropped at max_pending_readings: ${bestSluice.dropped}`,
);
console.log(
  `CPU ratio sluice / cat: ${(bestSluice.cpu / Math.max(bestCat.cpu, 1 / TICKS)).toFixed(1)}x (cat CPU resolution: ${1000 / TICKS} ms)`,
);
const cpuFloor = (m) => Math.max(m.cpu, 1 / TICKS);
record('serial-ingest', {
  figures: [
    figure(
      'cat.lines',
      'cat (floor) wall rate',
      cats.map((m) => LINES / m.wall),
      'lines/s',
    ),
    figure(
      'sluice.lines',
      'sluice serial -> queue wall rate',
      sluices.map((m) => LINES / m.wall),
      'lines/s',
    ),
    figure(
      'cat.cpu',
      'cat (floor) per CPU-second',
      cats.map((m) => LINES / cpuFloor(m)),
      'lines/cpu-s',
    ),
    figure(
      'sluice.cpu',
      'sluice serial -> queue per CPU-second',
      sluices.map((m) => LINES / cpuFloor(m)),
      'lines/cpu-s',
    ),
    figure(
      'cpu_ratio',
      'CPU sluice / cat, per round',
      sluices.map((m, i) => m.cpu / cpuFloor(cats[i])),
      'x',
    ),
    figure(
      'dropped',
      'readings dropped at max_pending_readings',
      sluices.map((m) => m.dropped),
      'readings',
    ),
  ],
  params: { lines: LINES, rounds: ROUNDS, commitMode: COMMIT_MODE },
  notes: [`cat's CPU resolution: ${1000 / TICKS} ms; the printed rows are the round with the least CPU`],
});
