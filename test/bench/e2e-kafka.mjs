// End to end at steady state: MQTT.js QoS 1 publishers at a fixed offered rate (below saturation) -> the real
// gateway (`sluice run`: mqtt_broker -> LMDB queue -> kafka sink, default settings) -> the REAL Kafka cluster
// (test/peers/kafka: Apache Kafka 4.x, 3 KRaft nodes, 3 partitions x 3 replicas, acks all, idempotent).
// Measured per shape (publishers x messages/s each), over the same seconds:
//   readings/s visible in Kafka; publish->PUBACK p50/p99 (the publishers' clock); publish->visible in Kafka
//   p50/p99: each reading carries its publish time, a consumer in a process of its own (kcat, read by a
//   watcher child that stamps arrival) records when it appears, on the same host clock; the gateway's CPU
//   time per reading for the whole path (ingest, queue, drain: all its threads, from /proc) and its RSS.
// Peers in the same run, under the same load: plain aedes (no storage) and mosquitto (defaults) for the
// ingest (mqtt-ingest.mjs's servers), and the bare @platformatic/kafka producer for the drain: the same
// records, generated at the same rate, batched as the sink batches (its batch.max_count and linger_ms, one
// batch in flight), acks all, idempotent, read by the same watcher.
// Run: npm run build && node test/bench/e2e-kafka.mjs [--shapes 50x20,200x5] [--seconds 15] [--warmup 5]
//      [--runs 1] [--targets sluice,aedes,mosquitto,bare] [--kafka-info FILE]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { validateConfig } from '../../dist/gateway/config/load.js';
import { nowMs, startFleet } from '../chaos/fleet.mjs';
import { gatewayConfig, procMemory, startGateway } from '../chaos/gateway-proc.mjs';
import { freePort, waitForPort } from '../helpers/net.mjs';
import { until } from '../helpers/wait.mjs';
import { procCpuSeconds } from './proc-cpu.mjs';
import { figure, goal, median, record } from './results.mjs';

const SELF = fileURLToPath(import.meta.url);
const here = dirname(SELF);
const { values: opts } = parseArgs({
  options: {
    shapes: { type: 'string', default: '50x20,200x5' },
    seconds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '5' },
    runs: { type: 'string', default: '1' },
    targets: { type: 'string', default: 'sluice,aedes,mosquitto,bare' },
    'kafka-info': { type: 'string' },
    // child modes
    watch: { type: 'string' },
    produce: { type: 'string' },
  },
});

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------- watcher child

/**
 * `--watch <json>`: kcat follows the topic from the beginning (-u: a line as soon as a message arrives); each
 * value's publish time `t` and its arrival time are kept. Asked over IPC for the figures of a time window.
 */
function watch({ brokers, topic }) {
  const kcat = spawn(
    'kcat',
    ['-C', '-u', '-q', '-o', 'beginning', '-b', brokers.join(','), '-t', topic, '-f', '%s\n'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let sent = new Float64Array(1 << 16);
  let arrived = new Float64Array(1 << 16);
  let n = 0;
  createInterface({ input: kcat.stdout }).on('line', (line) => {
    const at = nowMs();
    if (n === sent.length) {
      const grow = (a) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      sent = grow(sent);
      arrived = grow(arrived);
    }
    sent[n] = JSON.parse(line).value.t;
    arrived[n++] = at;
  });
  process.on('message', ({ from, to }) => {
    const lat = [];
    let inWindow = 0;
    for (let i = 0; i < n; i++) {
      if (sent[i] >= from && sent[i] < to) lat.push(arrived[i] - sent[i]);
      if (arrived[i] >= from && arrived[i] < to) inWindow++;
    }
    lat.sort((a, b) => a - b);
    process.send({ total: n, inWindow, latencies: [50, 90, 99, 99.9].map((p) => pct(lat, p)) });
  });
  process.on('SIGTERM', () => {
    kcat.kill('SIGKILL');
    process.exit(0);
  });
  process.send('ready');
}

function startWatcher(brokers, topic) {
  const child = spawn(process.execPath, [SELF, '--watch', JSON.stringify({ brokers, topic })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = new Promise((resolve) => child.once('message', resolve));
  return {
    ready,
    ask: (from, to) =>
      new Promise((resolve) => {
        child.once('message', resolve);
        child.send({ from, to });
      }),
    stop: () => child.kill('SIGTERM'),
  };
}

// -------------------------------------------------------------------------------------- bare producer child

/**
 * `--produce <json>`: the drain without Sluice. `rate` readings/s over `devices` devices, generated in
 * process, batched as the sink batches (up to maxCount, or linger ms after the oldest waiting reading; one
 * batch in flight), sent by @platformatic/kafka (acks all, idempotent) until SIGTERM.
 */
async function produce({ brokers, topic, rate, devices, maxCount, lingerMs }) {
  const { Producer, ProduceAcks, stringSerializers } = await import('@platformatic/kafka');
  const producer = new Producer({
    clientId: 'bench-bare',
    bootstrapBrokers: brokers,
    acks: ProduceAcks.ALL,
    idempotent: true,
    maxInflights: 1,
    serializers: stringSerializers,
  });
  await producer.metadata({ topics: [topic] });
  const started = performance.now();
  let made = 0;
  let seq = 0;
  let waiting = [];
  let oldest = 0;
  let busy = false;
  const send = () => {
    if (busy || waiting.length === 0) return;
    if (waiting.length < maxCount && performance.now() - oldest < lingerMs) return;
    const batch = waiting.splice(0, maxCount);
    if (waiting.length > 0) oldest = performance.now();
    busy = true;
    producer.send({ messages: batch }).then(
      () => {
        busy = false;
        send();
      },
      (err) => {
        console.error(`bare producer: ${err.message}`);
        process.exit(1);
      },
    );
  };
  setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; made < due; made++) {
      const device = `bare-${made % devices}`;
      const t = nowMs();
      seq++;
      const value = JSON.stringify({
        id: `gw-bare:${seq}`,
        gateway: 'gw-bare',
        seq,
        device,
        metric: 'load',
        value: { n: made, t },
        ts: Math.round(t),
        source: 'devices',
      });
      if (waiting.length === 0) oldest = performance.now();
      waiting.push({
        topic,
        key: device,
        value,
        timestamp: BigInt(Math.round(t)),
        headers: {
          'sluice-gateway': 'gw-bare',
          'sluice-seq': String(seq),
          'sluice-source': 'devices',
          'content-type': 'application/json',
        },
      });
    }
    send();
  }, 5);
  process.on('SIGTERM', () => void producer.close().finally(() => process.exit(0)));
  process.send('ready');
}

// ---------------------------------------------------------------------------------------------- the bench

function mosquittoPath() {
  for (const p of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto']) {
    if (spawnSync('test', ['-x', p]).status === 0) return p;
  }
  throw new Error('mosquitto is missing: apt-get install -y mosquitto (test/setup installs it)');
}

/** An ingest peer: plain aedes (mqtt-ingest.mjs's server, its own process) or mosquitto with defaults. */
async function startPeer(kind) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `sluice-e2e-${kind}-`));
  const child =
    kind === 'mosquitto'
      ? spawn(mosquittoPath(), ['-p', String(port)], { stdio: 'ignore' })
      : spawn(
          process.execPath,
          [join(here, 'mqtt-ingest.mjs'), '--serve', 'aedes', '--port', String(port), '--dir', dir],
          { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
        );
  await waitForPort(port);
  return {
    port,
    pid: child.pid,
    stop: async () => {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGKILL');
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Samples a process's RSS every 250 ms; returns the peak and the last value (MiB). */
function rssSampler(pid) {
  let peak = 0;
  let last = 0;
  const tick = () => {
    try {
      last = procMemory(pid).rss / 2 ** 20;
      peak = Math.max(peak, last);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err; // the process is gone: keep what was seen
    }
  };
  tick();
  const timer = setInterval(tick, 250);
  return {
    stop: () => {
      clearInterval(timer);
      return { peak, last };
    },
  };
}

const measureMs = Number(opts.seconds) * 1000;
const warmupMs = Number(opts.warmup) * 1000;

/**
 * One MQTT target under the shape's load: PUBACK latencies and the server's CPU over the measured window.
 * `serverPid` is the process whose CPU and RSS count.
 */
async function mqttLoad(port, serverPid, publishers, rate, prefix) {
  const latencies = [];
  let measuring = false;
  let ackedInWindow = 0;
  const fleet = await startFleet({
    url: `mqtt://127.0.0.1:${port}`,
    clients: publishers,
    rate,
    window: 1_000,
    prefix,
    onAck: (ms) => {
      if (!measuring) return;
      latencies.push(ms);
      ackedInWindow++;
    },
  });
  await sleep(warmupMs);
  const rss = rssSampler(serverPid);
  measuring = true;
  const from = nowMs();
  const cpu0 = procCpuSeconds(serverPid);
  await sleep(measureMs);
  const cpu = procCpuSeconds(serverPid) - cpu0;
  const to = nowMs();
  measuring = false;
  const mem = rss.stop();
  fleet.pause();
  await fleet.settle(30_000);
  latencies.sort((a, b) => a - b);
  return {
    fleet,
    from,
    to,
    cpuS: cpu,
    acked: ackedInWindow,
    puback: [pct(latencies, 50), pct(latencies, 99)],
    rss: mem.peak,
  };
}

/** Waits until the watcher has seen `want` messages (or 30 s pass), then asks for the window's figures. */
async function visible(watcher, want, from, to) {
  const end = performance.now() + 30_000;
  let r = await watcher.ask(from, to);
  while (r.total < want && performance.now() < end) {
    await sleep(250);
    r = await watcher.ask(from, to);
  }
  return r;
}

async function runSluice(cluster, topic, publishers, rate) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-e2e-gw-'));
  const mqttPort = await freePort();
  const config = gatewayConfig({
    id: 'gw-e2e',
    dataDir: join(dir, 'data'),
    mqttPort,
    httpPort: await freePort(),
    brokers: [...cluster.bootstrap],
    topic,
    // The load generator connects every publisher at once; the connection flood guard is not what is measured.
    source: { connect_rate_per_s: 0 },
  });
  const watcher = startWatcher(cluster.bootstrap, topic);
  await watcher.ready;
  const gw = await startGateway(config, dir);
  try {
    // Load only once the sink is connected: its first connect is start-up, not steady state.
    await until(async () => (await gw.status()).sinks[0]?.connected === true, {
      timeoutMs: 60_000,
      what: 'the gateway connected to Kafka',
    });
    const r = await mqttLoad(mqttPort, gw.pid, publishers, rate, 'e2e-');
    // Past saturation the queue holds a backlog: everything PUBACKed is awaited in Kafka once it drained.
    await until(async () => (await gw.status()).queue.cursors[0]?.lag === 0, {
      timeoutMs: 10 * 60_000,
      intervalMs: 250,
      what: 'the gateway drained its queue to Kafka',
    });
    const seen = await visible(watcher, r.fleet.ledger.ackedCount, r.from, r.to);
    await r.fleet.stop();
    const seconds = (r.to - r.from) / 1000;
    return {
      rate: seen.inWindow / seconds,
      puback: r.puback,
      visible: seen.latencies,
      cpuPer: (r.cpuS * 1e6) / seen.inWindow,
      rss: r.rss,
      missing: r.fleet.ledger.ackedCount - seen.total,
    };
  } finally {
    watcher.stop();
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runPeer(kind, publishers, rate) {
  const peer = await startPeer(kind);
  try {
    const r = await mqttLoad(peer.port, peer.pid, publishers, rate, `${kind}-`);
    await r.fleet.stop();
    const seconds = (r.to - r.from) / 1000;
    return { rate: r.acked / seconds, puback: r.puback, cpuPer: (r.cpuS * 1e6) / r.acked, rss: r.rss };
  } finally {
    await peer.stop();
  }
}

async function runBare(cluster, topic, publishers, rate, batch) {
  const watcher = startWatcher(cluster.bootstrap, topic);
  await watcher.ready;
  const spec = {
    brokers: [...cluster.bootstrap],
    topic,
    rate: publishers * rate,
    devices: publishers,
    maxCount: batch.max_count,
    lingerMs: batch.linger_ms,
  };
  const child = spawn(process.execPath, [SELF, '--produce', JSON.stringify(spec)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await new Promise((resolve, reject) => {
      child.once('message', resolve);
      exited.then((code) => reject(new Error(`the bare producer exited ${code} before it was ready`)));
    });
    await sleep(warmupMs);
    const rss = rssSampler(child.pid);
    const from = nowMs();
    const cpu0 = procCpuSeconds(child.pid);
    await sleep(measureMs);
    const cpu = procCpuSeconds(child.pid) - cpu0;
    const to = nowMs();
    const mem = rss.stop();
    await sleep(Math.min(2_000, batch.linger_ms * 3 + 500)); // the readings of the window's last batches
    const seen = await watcher.ask(from, to);
    return {
      rate: seen.inWindow / ((to - from) / 1000),
      visible: seen.latencies,
      cpuPer: (cpu * 1e6) / seen.inWindow,
      rss: mem.peak,
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
    watcher.stop();
  }
}

async function main() {
  register('./kafka-ts-hooks.mjs', import.meta.url);
  const { startKafkaCluster } = await import('../peers/kafka/cluster.ts');
  const { createTopic } = await import('../peers/kafka/admin.ts');
  // The sink's batching in force (its schema's defaults), which the bare producer copies.
  const batch = validateConfig({
    gateway: { id: 'x', data_dir: '/tmp/x' },
    sinks: { kafka: { type: 'kafka', brokers: ['127.0.0.1:9092'], topic: 't' } },
  }).sinks.kafka.batch;
  const shapes = opts.shapes.split(',').map((s) => s.split('x').map(Number));
  const targets = opts.targets.split(',');
  const runs = Number(opts.runs);
  const cluster = opts['kafka-info']
    ? { ...JSON.parse(readFileSync(opts['kafka-info'], 'utf8')), close: async () => undefined }
    : await startKafkaCluster({ nodes: 3 });
  const results = new Map(); // `${shape} ${target}` -> runs
  let t = 0;
  const topic = async (name) => {
    const full = `e2e-${name}-${process.pid}-${++t}`;
    await createTopic(cluster, full, { partitions: 3, replication: 3 });
    return full;
  };
  try {
    // Warm-up of the cluster's JVMs (JIT) and of the path, not measured.
    await runBare(cluster, await topic('warmup'), 10, 100, batch);
    for (let run = 1; run <= runs; run++) {
      for (const [publishers, rate] of shapes) {
        const shape = `${publishers}x${rate}`;
        for (const target of targets) {
          let r;
          if (target === 'sluice')
            r = await runSluice(cluster, await topic(`sluice-${shape}`), publishers, rate);
          else if (target === 'bare')
            r = await runBare(cluster, await topic(`bare-${shape}`), publishers, rate, batch);
          else r = await runPeer(target, publishers, rate);
          const key = `${shape} ${target}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          console.log(
            `  run ${run} ${key.padEnd(16)} ${r.rate.toFixed(0).padStart(6)} readings/s` +
              (r.puback ? `  PUBACK p50 ${r.puback[0].toFixed(2)} p99 ${r.puback[1].toFixed(2)} ms` : '') +
              (r.visible
                ? `  visible p50 ${r.visible[0].toFixed(1)} p99 ${r.visible[2].toFixed(1)} ms`
                : '') +
              `  ${r.cpuPer.toFixed(1)} us/reading  RSS ${r.rss.toFixed(0)} MiB` +
              (r.missing > 0 ? `  ${r.missing} PUBACKed not in Kafka after the drain!` : ''),
          );
        }
      }
    }
  } finally {
    await cluster.close();
  }

  const f = (xs, d = 1) => {
    const m = median(xs);
    return runs > 1
      ? `${m.toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`
      : m.toFixed(d);
  };
  console.log(
    `\nend to end, Kafka ${cluster.version} (3 KRaft nodes, 3 partitions x3 replicas, acks all, idempotent), sink ` +
      `batch ${batch.max_count} / linger ${batch.linger_ms} ms, ${opts.seconds} s measured after ${opts.warmup} s, ` +
      `${runs} run(s): median (range)`,
  );
  const labels = {
    sluice: 'sluice: MQTT -> queue -> Kafka, whole path',
    aedes: 'plain aedes, ingest only (no storage)',
    mosquitto: 'mosquitto defaults, ingest only',
    bare: 'bare @platformatic/kafka, drain only',
  };
  const figures = [];
  const goals = [];
  const series = {};
  for (const [publishers, rate] of shapes) {
    const shape = `${publishers}x${rate}`;
    console.log(`\n${shape}: ${publishers} publishers x ${rate} msgs/s = ${publishers * rate} offered`);
    console.log(
      `  ${'target'.padEnd(44)}${'readings/s'.padStart(20)}${'PUBACK p50 ms'.padStart(18)}${'PUBACK p99'.padStart(18)}` +
        `${'visible p50 ms'.padStart(20)}${'visible p99'.padStart(20)}${'CPU us/reading'.padStart(20)}${'RSS MiB'.padStart(14)}`,
    );
    const by = {};
    for (const target of targets) {
      const rs = results.get(`${shape} ${target}`) ?? [];
      if (rs.length === 0) continue;
      by[target] = rs;
      const col = (get, w, d) => (rs[0] && get(rs[0]) !== undefined ? f(rs.map(get), d) : '-').padStart(w);
      console.log(
        `  ${labels[target].padEnd(44)}${col((r) => r.rate, 20, 0)}${col((r) => r.puback?.[0], 18, 2)}` +
          `${col((r) => r.puback?.[1], 18, 2)}${col((r) => r.visible?.[0], 20, 1)}${col((r) => r.visible?.[2], 20, 1)}` +
          `${col((r) => r.cpuPer, 20, 1)}${col((r) => r.rss, 14, 0)}`,
      );
      const k = `${target}_${shape}`;
      figures.push(
        figure(
          `${k}_rps`,
          `${labels[target]}, ${shape}`,
          rs.map((r) => r.rate),
          'readings/s',
        ),
      );
      figures.push(
        figure(
          `${k}_cpu`,
          `${labels[target]}, ${shape}: CPU`,
          rs.map((r) => r.cpuPer),
          'us/reading',
        ),
      );
      figures.push(
        figure(
          `${k}_rss`,
          `${labels[target]}, ${shape}: RSS peak`,
          rs.map((r) => r.rss),
          'MiB',
        ),
      );
      if (rs[0].puback) {
        figures.push(
          figure(
            `${k}_puback_p50`,
            `${labels[target]}, ${shape}: PUBACK p50`,
            rs.map((r) => r.puback[0]),
            'ms',
          ),
        );
        figures.push(
          figure(
            `${k}_puback_p99`,
            `${labels[target]}, ${shape}: PUBACK p99`,
            rs.map((r) => r.puback[1]),
            'ms',
          ),
        );
      }
      if (rs[0].visible) {
        figures.push(
          figure(
            `${k}_visible_p50`,
            `${labels[target]}, ${shape}: visible p50`,
            rs.map((r) => r.visible[0]),
            'ms',
          ),
        );
        figures.push(
          figure(
            `${k}_visible_p99`,
            `${labels[target]}, ${shape}: visible p99`,
            rs.map((r) => r.visible[2]),
            'ms',
          ),
        );
        series[`${k}_visible_ms`] = [50, 90, 99, 99.9].map((p, i) => ({
          x: p,
          y: median(rs.map((r) => r.visible[i])),
        }));
      }
    }
    const m = (target, get) => median((by[target] ?? []).map(get));
    if (by.sluice) {
      goals.push(
        goal(
          `${shape}: keeps up, delivered / offered (>= 0.99)`,
          m('sluice', (r) => r.rate) / (publishers * rate),
          '>=',
          0.99,
        ),
      );
      const missing = Math.max(...by.sluice.map((r) => r.missing));
      goals.push(goal(`${shape}: PUBACKed readings not seen in Kafka (0)`, missing, '<=', 0, 0));
    }
    if (by.sluice && by.aedes && by.bare) {
      const ratio = m('sluice', (r) => r.cpuPer) / (m('aedes', (r) => r.cpuPer) + m('bare', (r) => r.cpuPer));
      goals.push(
        goal(
          `${shape}: whole-path CPU / (plain aedes ingest + bare producer drain) (<= 1.5)`,
          ratio,
          '<=',
          1.5,
        ),
      );
    }
    if (by.sluice && by.bare) {
      const ratio = m('sluice', (r) => r.visible[2]) / m('bare', (r) => r.visible[2]);
      goals.push(goal(`${shape}: publish->visible p99 / bare producer's (<= 1.5)`, ratio, '<=', 1.5));
    }
    if (by.sluice && by.mosquitto) {
      console.log(
        `  PUBACK p99: sluice (fsync per commit) / mosquitto (no persistence) ${(m('sluice', (r) => r.puback[1]) / m('mosquitto', (r) => r.puback[1])).toFixed(2)}x`,
      );
    }
  }
  console.log(
    '(machine shared with parallel work: 2 cores; brokers, load generator and gateway on the same cores)',
  );
  record('e2e-kafka', {
    params: { shapes: opts.shapes, seconds: Number(opts.seconds), warmup: Number(opts.warmup), runs, batch },
    figures,
    goals,
    series,
    notes: ["goals are this bench's proposals (issue 21 names the figures, not targets)"],
  });
}

if (opts.watch) watch(JSON.parse(opts.watch));
else if (opts.produce) await produce(JSON.parse(opts.produce));
else await main();
