// QoS 1 ingest: throughput and PUBACK latency of (a) Sluice's mqtt_broker source writing to the durable queue,
// (b) plain aedes storing nothing, (c) mosquitto with default settings, under one load generator: MQTT.js
// clients, each keeping a window of unacknowledged messages. Every server runs in its own process.
// Run: npm run build && node test/bench/mqtt-ingest.mjs [--shapes 8x32,32x32,256x4] [--seconds 5]
//      [--targets sluice,aedes,mosquitto[,sluice-nosync]] [--runs 1]
// --runs N: every target N times per shape, alternating the order; figures are medians with their range.
// sluice-nosync (not run by default) is Sluice with the queue's fsyncs switched off: never for real data,
// it shows how much of the gap to plain aedes is the disk (what a durable commit costs) and how much is code.
// cpu µs/msg: the server process's CPU time (user + system, all threads) over the measurement, per message;
// what decides throughput when the load generator and the server saturate the machine together.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { freePort, waitForPort } from '../helpers/net.mjs';
import { procCpuSeconds } from './proc-cpu.mjs';
import { figure, goal, median, record } from './results.mjs';

const { values: opts } = parseArgs({
  options: {
    // publishers x messages in flight each: few busy clients, more clients, many devices
    shapes: { type: 'string', default: '8x32,32x32,256x4' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    serve: { type: 'string' },
    port: { type: 'string' },
    dir: { type: 'string' },
    targets: { type: 'string', default: 'sluice,aedes,mosquitto' },
    runs: { type: 'string', default: '1' },
  },
});

if (opts.serve) await serve(opts.serve, Number(opts.port), opts.dir);
else await main();

/** Child process: one server under test, until killed. */
async function serve(kind, port, dir) {
  if (kind === 'aedes') {
    const { Aedes } = await import('aedes');
    const broker = await Aedes.createBroker();
    createServer(broker.handle).listen(port, '127.0.0.1', () => process.send?.('ready'));
    return;
  }
  const { validateConfig } = await import('../../dist/gateway/config/load.js');
  const { Gateway } = await import('../../dist/gateway/runtime/gateway.js');
  const { silentLogger } = await import('../../dist/gateway/observe/log.js');
  const config = validateConfig({
    gateway: { id: 'bench', data_dir: dir },
    log: { level: 'silent' },
    sources: {
      devices: {
        type: 'mqtt_broker',
        listeners: [{ type: 'tcp', host: '127.0.0.1', port, allow_anonymous: true }],
        // The load generator connects every publisher at once; the flood guard is not what is measured.
        connect_rate_per_s: 0,
        topics: [{ topic: 'sensors/{device}/{metric}', decoder: 'number' }],
      },
    },
  });
  const gw = await Gateway.start(config, { log: silentLogger, unsafeNoSync: kind === 'sluice-nosync' });
  // How the queue committed, for the report (auto can move commits off the event loop on a slow disk).
  process.on('message', (m) => {
    if (m === 'stats') process.send?.({ stats: gw.queue.stats() });
  });
  process.send?.('ready');
}

function mosquittoPath() {
  for (const p of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto']) {
    if (spawnSync('test', ['-x', p]).status === 0) return p;
  }
  throw new Error('apt-get install -y mosquitto mosquitto-clients');
}

async function startServer(kind) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `sluice-bench-${kind}-`));
  let child;
  if (kind === 'mosquitto') {
    // Default settings: `-p` only (mosquitto 2 then listens on loopback, anonymous, no persistence).
    child = spawn(mosquittoPath(), ['-p', String(port)], { stdio: 'ignore' });
  } else {
    child = spawn(
      process.execPath,
      [new URL(import.meta.url).pathname, '--serve', kind, '--port', String(port), '--dir', dir],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
  }
  await waitForPort(port);
  return {
    port,
    pid: child.pid,
    /** The Sluice child's queue stats (commit mode, commits), or undefined for the peers. */
    queueStats() {
      if (!kind.startsWith('sluice')) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const onMessage = (m) => {
          if (typeof m !== 'object' || m === null || !('stats' in m)) return; // e.g. a late 'ready'
          child.off('message', onMessage);
          resolve(m.stats);
        };
        child.on('message', onMessage);
        child.send('stats');
      });
    },
    async stop() {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGKILL');
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** CPU time (user + system, all threads) a process has used, in ms; NaN where /proc is not there. */
function cpuMs(pid) {
  try {
    return procCpuSeconds(pid) * 1000;
  } catch {
    return NaN;
  }
}

/**
 * N publishers, each with `window` QoS 1 messages in flight; latency = publish() to its PUBACK callback.
 * `serverPid`: the server's CPU time over the measurement, per message acknowledged.
 */
async function load(port, serverPid, publishers, windowSize, warmupMs, measureMs) {
  const clients = await Promise.all(
    Array.from({ length: publishers }, (_, i) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `bench-${i}`, reconnectPeriod: 0 }),
    ),
  );
  const latencies = [];
  let acked = 0;
  let measuring = false;
  let running = true;
  let value = 0;
  const pumps = clients.map(
    (client, i) =>
      new Promise((resolve) => {
        let inflight = 0;
        const send = () => {
          if (!running) {
            if (inflight === 0) resolve();
            return;
          }
          inflight++;
          const t0 = process.hrtime.bigint();
          const counted = measuring;
          client.publish(`sensors/dev${i}/temp`, String(value++ % 1000), { qos: 1 }, (err) => {
            inflight--;
            if (err) throw err;
            if (counted && measuring) {
              acked++;
              latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            }
            send();
          });
        };
        for (let w = 0; w < windowSize; w++) send();
      }),
  );
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const t0 = process.hrtime.bigint();
  const cpu0 = cpuMs(serverPid);
  await new Promise((r) => setTimeout(r, measureMs));
  measuring = false;
  const cpu = cpuMs(serverPid) - cpu0;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  await Promise.all(pumps);
  await Promise.all(clients.map((c) => c.endAsync()));
  latencies.sort((a, b) => a - b);
  const pct = (p) =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { rate: acked / seconds, p50: pct(50), p99: pct(99), n: acked, cpuUs: (cpu * 1000) / acked };
}

async function main() {
  const shapes = opts.shapes.split(',').map((x) => x.split('x').map(Number));
  const measureMs = Number(opts.seconds) * 1000;
  const warmupMs = Number(opts.warmup) * 1000;
  const runs = Math.max(1, Number(opts.runs));
  const fmt = (n, d = 0) => n.toFixed(d).padStart(10);
  const summary = [];
  // Throughput first (what a reader looks for), then latency, then CPU.
  const figures = { rate: [], p50: [], p99: [], cpu: [] };
  const all = () => [...figures.rate, ...figures.p50, ...figures.p99, ...figures.cpu];
  const goals = [];
  const series = {};
  const targets = [
    ['sluice', 'sluice mqtt_broker -> durable queue (fsync)'],
    ['aedes', 'plain aedes, no storage'],
    ['mosquitto', 'mosquitto, default settings'],
    ['sluice-nosync', 'sluice, queue without fsync (not durable)'],
  ].filter(([kind]) => opts.targets.split(',').includes(kind));
  for (const [publishers, windowSize] of shapes) {
    const shape = `${publishers}x${windowSize}`;
    console.log(
      `\nQoS 1 ingest: ${publishers} publishers x ${windowSize} in flight, ${opts.seconds} s measured after ${opts.warmup} s warm-up` +
        (runs > 1 ? `, ${runs} runs (median)` : ''),
    );
    const byKind = new Map(targets.map(([kind, label]) => [kind, { kind, label, runs: [], notes: [] }]));
    for (let run = 0; run < runs; run++) {
      // Alternate the order, so that a drift in the machine's load does not favour one target.
      for (const [kind] of run % 2 === 0 ? targets : [...targets].reverse()) {
        const server = await startServer(kind);
        try {
          const result = await load(server.port, server.pid, publishers, windowSize, warmupMs, measureMs);
          const q = await server.queueStats();
          const t = byKind.get(kind);
          t.runs.push(result);
          if (q)
            t.notes.push(` (${q.commits} commits, now ${q.commitMode}, ${q.commitModeFallbacks} fallbacks)`);
        } finally {
          await server.stop();
        }
      }
    }
    const rows = [...byKind.values()].map((t) => {
      const m = (k) => median(t.runs.map((r) => r[k]));
      return {
        ...t,
        rate: m('rate'),
        p50: m('p50'),
        p99: m('p99'),
        cpuUs: m('cpuUs'),
        note: t.notes.at(-1) ?? '',
      };
    });
    console.log(
      `${'target'.padEnd(46)}${'msgs/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'cpu µs/msg'.padStart(12)}`,
    );
    for (const r of rows) {
      console.log(
        `${r.label.padEnd(46)}${fmt(r.rate)}${fmt(r.p50, 2)}${fmt(r.p99, 2)}${r.cpuUs.toFixed(1).padStart(12)}${r.note}`,
      );
      const runsOf = (k) => r.runs.map((x) => x[k]);
      figures.rate.push(figure(`${shape}.${r.kind}.rate`, `${shape} ${r.label}`, runsOf('rate'), 'msgs/s'));
      figures.p50.push(
        figure(`${shape}.${r.kind}.p50`, `${shape} ${r.kind} PUBACK p50`, runsOf('p50'), 'ms'),
      );
      figures.p99.push(
        figure(`${shape}.${r.kind}.p99`, `${shape} ${r.kind} PUBACK p99`, runsOf('p99'), 'ms'),
      );
      figures.cpu.push(
        figure(`${shape}.${r.kind}.cpu`, `${shape} ${r.kind} server CPU`, runsOf('cpuUs'), 'µs/msg'),
      );
      for (const [name, y] of [
        [`throughput:${r.kind}`, r.rate],
        [`puback_p50:${r.kind}`, r.p50],
        [`puback_p99:${r.kind}`, r.p99],
        [`cpu_us:${r.kind}`, r.cpuUs],
      ])
        (series[name] ??= []).push({ x: publishers, y, shape });
    }
    const by = Object.fromEntries(rows.map((r) => [r.kind, r]));
    if (by.sluice && by.aedes && by.mosquitto) {
      summary.push({
        shape,
        aedes: by.sluice.rate / by.aedes.rate,
        mosquitto: by.sluice.rate / by.mosquitto.rate,
        nosync: by['sluice-nosync'] ? by['sluice-nosync'].rate / by.aedes.rate : undefined,
      });
    }
  }
  const params = { shapes: opts.shapes, seconds: Number(opts.seconds), warmup: Number(opts.warmup), runs };
  if (summary.length === 0) {
    record('mqtt-ingest', { figures: all(), series, params });
    return;
  }
  const withNoSync = summary.some((r) => r.nosync !== undefined);
  console.log(
    `\n${'publishers x in flight'.padEnd(24)}${'sluice/aedes'.padStart(14)}${'sluice/mosquitto'.padStart(18)}` +
      (withNoSync ? 'no-fsync sluice/aedes'.padStart(23) : ''),
  );
  for (const r of summary) {
    const nosync = r.nosync === undefined ? '' : `${r.nosync.toFixed(2).padStart(22)}x`;
    console.log(
      `${r.shape.padEnd(24)}${r.aedes.toFixed(2).padStart(13)}x${r.mosquitto.toFixed(2).padStart(17)}x${nosync}`,
    );
  }
  console.log('goals: sluice >= 0.9x plain aedes and >= 1.0x mosquitto');
  for (const r of summary) {
    goals.push(
      goal(`${r.shape}: sluice / plain aedes >= 0.9x`, r.aedes, '>=', 0.9),
      goal(`${r.shape}: sluice / mosquitto >= 1.0x`, r.mosquitto, '>=', 1.0),
    );
  }
  record('mqtt-ingest', {
    figures: all(),
    goals,
    series,
    params,
    notes: ['ratios are of the medians; the load generator runs on the same cores as the server'],
  });
}
