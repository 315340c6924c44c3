// Unplug/replug chaos for the `serial` source: socat (the "adapter") is killed with a random signal, left
// away for a random time, and restarted on the same link paths, many times, while a simulated sensor writes
// between unplugs. Prints reopen latency after each replug, the open-descriptor count and whether every
// counter adds up. test/sources/serial-hotplug.test.ts runs the fixed-timing version on every `vitest run`.
// Run: npm run build && node test/bench/serial-chaos.mjs [rounds=100] [max_away_ms=300]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { silentLogger } from '../../dist/gateway/observe/log.js';
import { Queue } from '../../dist/gateway/queue/queue.js';
import { SerialSource, schema } from '../../dist/gateway/sources/serial/index.js';
import { until } from '../helpers/wait.mjs';
import { figure, goal, record } from './results.mjs';

const ROUNDS = Number(process.argv[2] ?? 100);
const MAX_AWAY_MS = Number(process.argv[3] ?? 300);
const LINES = 20;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Polled every 2 ms: the reopen latency is read right after a wait ends.
const benchWait = { timeoutMs: 5000, intervalMs: 2 };
// socat outlives this process if not killed: stop every child on the way out, failure included.
const children = new Set();
process.on('exit', () => children.forEach((c) => c.kill()));
const track = (child) => (children.add(child), child.once('exit', () => children.delete(child)), child);
const fds = () => readdirSync('/proc/self/fd').length;

const dir = mkdtempSync(join(tmpdir(), 'sluice-chaos-'));
let socat;
async function plug() {
  socat = track(
    spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${dir}/dev`, `pty,raw,echo=0,link=${dir}/sim`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  const exited = new Promise((r) => socat.once('exit', r));
  socat.exited = exited;
  let log = '';
  await new Promise((resolve, reject) => {
    socat.once('error', (err) => reject(new Error(`${err.message}: apt-get install -y socat`)));
    socat.stderr.on('data', (t) => {
      log += t;
      if (log.includes('starting data transfer loop')) resolve();
    });
  });
}
async function unplug(signal) {
  socat.kill(signal);
  await socat.exited;
}

async function sensor(text) {
  const port = new SerialPort({ path: `${dir}/sim`, baudRate: 9600, autoOpen: false });
  await new Promise((res, rej) => port.open((e) => (e ? rej(e) : res())));
  await new Promise((res, rej) =>
    port.write(text, (e) => (e ? rej(e) : port.drain((d) => (d ? rej(d) : res())))),
  );
  await new Promise((res, rej) => port.close((e) => (e ? rej(e) : res())));
}

await plug();
const queue = Queue.open({ dir: join(dir, 'queue'), maxBytes: 1024 ** 3, onFull: 'drop_oldest' });
const config = schema.parse({
  type: 'serial',
  path: `${dir}/dev`,
  driver: { type: 'lines', format: { type: 'kv' } },
  check_interval_ms: 100,
  reopen_initial_ms: 50,
  reopen_max_ms: 1000,
});
const source = new SerialSource('chaos', config);
const noop = () => undefined;
await source.start({
  gatewayId: 'chaos',
  log: silentLogger,
  metrics: { received: noop, sent: noop, error: noop, discarded: noop },
  ingest: (r) => queue.append(r),
  reject: noop,
});
await until(() => source.stats().connected, { ...benchWait, what: 'first open' });

const latencies = [];
let fdsFirst = 0;
let fdsMax = 0;
const signals = ['SIGTERM', 'SIGKILL', 'SIGINT'];
const started = Date.now();
for (let round = 1; round <= ROUNDS; round++) {
  await sensor(Array.from({ length: LINES }, (_, i) => `round=${round} line=${i}\n`).join(''));
  await until(() => source.stats().readings === round * LINES * 2, {
    ...benchWait,
    what: `round ${round}: readings`,
  });
  await unplug(signals[round % signals.length]);
  await sleep(Math.random() * MAX_AWAY_MS);
  await plug();
  const plugged = performance.now();
  await until(() => source.stats().reconnects === round, {
    ...benchWait,
    what: `round ${round}: reopen`,
    timeoutMs: 10_000,
  });
  latencies.push(performance.now() - plugged);
  if (round === 1) fdsFirst = fds();
  fdsMax = Math.max(fdsMax, fds());
}
const stats = source.stats();
await source.close();
await queue.close();
await unplug('SIGTERM');
rmSync(dir, { recursive: true, force: true });

latencies.sort((a, b) => a - b);
const pct = (p) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(0);
const ok =
  stats.reconnects === ROUNDS &&
  stats.frames === ROUNDS * LINES &&
  stats.readings === ROUNDS * LINES * 2 &&
  stats.bad_frames === 0 &&
  fdsMax === fdsFirst;
console.log(
  `serial chaos: ${ROUNDS} unplug/replug rounds in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
console.log(`reopen after replug: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${pct(100)} ms`);
console.log(`open fds: ${fdsFirst} after round 1, at most ${fdsMax} after any later round`);
console.log(`counters: ${JSON.stringify(stats)}`);
console.log(ok ? 'OK' : 'MISMATCH');
record('serial-chaos', {
  figures: [
    figure('reopen_p50', 'reopen after replug p50', Number(pct(50)), 'ms'),
    figure('reopen_p99', 'reopen after replug p99', Number(pct(99)), 'ms'),
    figure('reopen_max', 'reopen after replug max', Number(pct(100)), 'ms'),
    figure('fds_growth', 'open fds, most after any round minus after round 1', fdsMax - fdsFirst, 'fds'),
  ],
  goals: [goal('counters add up, no fd leaked (1 = yes)', ok ? 1 : 0, '>=', 1, 0)],
  params: { rounds: ROUNDS, maxAwayMs: MAX_AWAY_MS, lines: LINES },
  notes: [`counters: ${JSON.stringify(stats)}`, 'percentiles of one series of rounds, not medians of runs'],
});
process.exitCode = ok ? 0 : 1;
