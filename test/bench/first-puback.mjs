// Time from start to the first PUBACK (issue 21): the gateway is spawned (`sluice run` from dist/, an MQTT
// broker source on a free loopback port, the durable queue in a fresh directory, a file sink), and a client
// in this process, already loaded, tries every 10 ms to connect and publish one QoS 1 message; the figure is
// spawn -> PUBACK, which covers Node's own start, loading the gateway, opening the queue, binding the
// listener and the first durable commit. Beside it, in the same run: bare `node -e` to its first output
// (Node's share) and mosquitto (Debian's, default settings, no persistence) to its first PUBACK.
// Runs are interleaved so a change in the machine's load hits all three alike.
// Run: npm run build && node test/bench/first-puback.mjs [--runs 5] [--dist dist]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { freePort } from '../helpers/net.mjs';
import { figure, loadText, record } from './results.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    dist: { type: 'string', default: join(root, 'dist') },
    'timeout-s': { type: 'string', default: '60' },
  },
});
const runs = Number(opts.runs);
const timeoutMs = Number(opts['timeout-s']) * 1000;

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** One connect + QoS 1 publish; resolves true on the PUBACK, false when the broker is not there yet. */
function tryPublish(port) {
  return new Promise((resolvePublish) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId: 'dev-first',
      reconnectPeriod: 0,
      connectTimeout: 5000,
      protocolVersion: 4,
    });
    let settled = false;
    const done = (ok) => {
      if (settled) return;
      settled = true;
      c.end(true);
      resolvePublish(ok);
    };
    c.once('error', () => done(false));
    c.once('close', () => done(false));
    c.once('connect', () => {
      c.publish('sensors/dev-first/t', '21.5', { qos: 1 }, (err) => done(err === undefined || err === null));
    });
  });
}

/** Spawns `cmd args`, then ms until a PUBACK from `port` (the child is killed after). */
async function timeToPuback(cmd, args, port, what) {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    while (performance.now() - t0 < timeoutMs) {
      if (child.exitCode !== null) throw new Error(`${what} exited early: ${err}`);
      if (await tryPublish(port)) return performance.now() - t0;
      await sleep(10);
    }
    throw new Error(`${what}: no PUBACK within ${timeoutMs} ms: ${err}`);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

/** ms from spawning bare node until its first line on stdout (Node's own start, nothing loaded). */
async function nodeStart() {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['-e', 'console.log(1)'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((r) => child.stdout.once('data', r));
  const ms = performance.now() - t0;
  await new Promise((r) => child.once('exit', r));
  return ms;
}

function gatewayConfig(dir, port) {
  const config = {
    gateway: { id: 'bench-first', data_dir: join(dir, 'data') },
    log: { level: 'warn' },
    sources: {
      devices: {
        type: 'mqtt_broker',
        listeners: [{ type: 'tcp', host: '127.0.0.1', port, allow_anonymous: true }],
        topics: [{ topic: 'sensors/{device}/{metric}', decoder: 'number' }],
      },
    },
    sinks: { local: { type: 'file', path: join(dir, 'out') } },
  };
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, JSON.stringify(config)); // JSON is YAML
  return file;
}

function mosquittoPath() {
  return ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) =>
    existsSync(p),
  );
}

const main = join(opts.dist, 'gateway/cli/main.js');
const mosquitto = mosquittoPath();
const results = { sluice: [], node: [], mosquitto: [] };
const load0 = loadText();
for (let r = 0; r < runs; r++) {
  results.node.push(await nodeStart());
  const dir = mkdtempSync(join(tmpdir(), 'sluice-first-'));
  try {
    const port = await freePort();
    const cfg = gatewayConfig(dir, port);
    results.sluice.push(await timeToPuback(process.execPath, [main, 'run', '-c', cfg], port, 'sluice'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (mosquitto !== undefined) {
    const port = await freePort();
    results.mosquitto.push(await timeToPuback(mosquitto, ['-p', String(port)], port, 'mosquitto'));
  }
}
const load1 = loadText();

const figures = [
  figure('sluice_first_puback_ms', 'Sluice: start -> first PUBACK', results.sluice, 'ms'),
  figure('node_start_ms', 'bare node: start -> first output', results.node, 'ms'),
];
if (mosquitto !== undefined) {
  figures.push(
    figure('mosquitto_first_puback_ms', 'mosquitto: start -> first PUBACK', results.mosquitto, 'ms'),
  );
}
for (const f of figures) {
  console.log(
    `${f.label}: median ${f.value.toFixed(0)} ms (${f.range[0].toFixed(0)}-${f.range[1].toFixed(0)}), ` +
      `runs ${f.runs.map((x) => x.toFixed(0)).join(' ')}`,
  );
}
if (mosquitto === undefined) console.log('mosquitto: not installed (apt-get install -y mosquitto), left out');
console.log(`load average: ${load0} at start, ${load1} at end; ${process.version}`);
record('first-puback', { figures, notes: [`load average ${load0} -> ${load1}`], params: { runs } });
