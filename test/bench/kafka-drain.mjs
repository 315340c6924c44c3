// Drain of a queued backlog to the REAL Kafka cluster (test/peers/kafka: Apache Kafka 4.x, 3 KRaft nodes,
// topics of 3 partitions x 3 replicas, acks all, idempotent), side by side in one run with
//   (a) bare producers of each client sending the same pre-encoded readings in the same batches from memory,
//       one batch in flight like the sink (kafka-clients.mjs's child processes: KafkaJS, @platformatic/kafka),
//   (b) kcat (librdkafka) producing the same keys and values,
//   (c) Sluice's durable MQTT QoS 1 ingest at 8 publishers x 32 in flight (mqtt-ingest.mjs, its own process),
//   (d) catch-up: a backlog drained while readings keep arriving at 5,000/s, until the drain is level with
//       ingest; the minutes it takes scale with the backlog (backlog / (drain - ingest)), so a scaled run is
//       projected to the 1-hour outage of the goal (18M readings); RSS sampled throughout.
// Run: npm run build && node test/bench/kafka-drain.mjs [readings=300000] [backlog=readings] [batch=8000]
//   (or KAFKA_DRAIN_READINGS / KAFKA_DRAIN_BACKLOG)
// Clients: KAFKA_DRAIN_CLIENT=kafkajs|platformatic|kafkajs,platformatic (the default: both) sets the sink's
//   `client` of the drains (the catch-up runs the first); KAFKA_DRAIN_QUICK=1 runs only the drains and the
//   bare producers (no kcat, MQTT ingest or catch-up).
// Sweep: KAFKA_DRAIN_SWEEP='2000,8000' (batch sizes; the sink keeps one batch in flight, worker.ts) drains
//   the same N with each batch size and bare KafkaJS at the same batch, KAFKA_DRAIN_ROUNDS rounds (3) interleaved, medians and ranges.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../dist/gateway/config/load.js';
import { Queue } from '../../dist/gateway/queue/queue.js';
import { Gateway } from '../../dist/gateway/runtime/gateway.js';
import { until } from '../helpers/wait.mjs';
import { GATEWAY, PARTITIONS, kcatInput, kcatRun, reading, runChild } from './kafka-clients.mjs';

const N = Number(process.argv[2] ?? process.env.KAFKA_DRAIN_READINGS ?? 300_000);
const BACKLOG = Number(process.argv[3] ?? process.env.KAFKA_DRAIN_BACKLOG ?? N);
const BATCH = Number(process.argv[4] ?? 8_000); // the sink's default batch.max_count
const INGEST_RATE = 5_000;
const OUTAGE = 18_000_000; // 1 hour at 5,000 readings/s
/** The client the goal compares the drain with: the measured choice (kafka-clients.mjs). */
const CHOSEN = 'platformatic';
const here = dirname(fileURLToPath(import.meta.url));
const SINK_CLIENTS = (process.env.KAFKA_DRAIN_CLIENT ?? 'kafkajs,platformatic').split(',');
for (const c of SINK_CLIENTS)
  if (!['kafkajs', 'platformatic'].includes(c)) throw new Error(`KAFKA_DRAIN_CLIENT: unknown client ${c}`);
const QUICK = process.env.KAFKA_DRAIN_QUICK === '1';

register('./kafka-ts-hooks.mjs', import.meta.url);
const { startKafkaCluster } = await import('../peers/kafka/cluster.ts');
const { createTopic, messageCount } = await import('../peers/kafka/admin.ts');

function sinkConfig(brokers, topic, cell = { batch: BATCH }) {
  return {
    type: 'kafka',
    client: cell.client ?? SINK_CLIENTS[0],
    brokers,
    topic,
    idempotent: true,
    acks: 'all',
    start_from: 'oldest',
    batch: { max_count: cell.batch, max_bytes: '64MiB', linger_ms: 0 },
  };
}

async function fillQueue(dataDir, n) {
  const fill = Queue.open({
    dir: join(dataDir, 'queue'),
    maxBytes: 64 * 1024 ** 3,
    onFull: 'reject_new',
    noSync: true,
  });
  for (let i = 0; i < n; i += 10_000)
    await fill.append(Array.from({ length: Math.min(10_000, n - i) }, (_, k) => reading(i + k)));
  await fill.close();
}

function startGateway(dataDir, brokers, topic, cell) {
  const config = validateConfig({
    gateway: { id: GATEWAY, data_dir: dataDir },
    log: { level: 'warn' },
    sinks: { kafka: sinkConfig(brokers, topic, cell) },
  });
  return Gateway.start(config);
}

/** Sluice: N readings queued, then the real Gateway draining them; CPU of this process (all threads). */
async function sluiceDrain(brokers, topic, cell) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-kdrain-'));
  await fillQueue(dataDir, N);
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const gw = await startGateway(dataDir, brokers, topic, cell);
  await until(() => gw.queue.cursorPosition('kafka') >= N, {
    timeoutMs: 60 * 60_000,
    intervalMs: 5,
    what: `${N} readings drained`,
    state: () => gw.status().sinks[0],
  });
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  await gw.stop();
  rmSync(dataDir, { recursive: true, force: true });
  return { rate: N / (elapsed / 1000), cpuPer: (cpu.user + cpu.system) / N, rss: peak / 2 ** 20 };
}

function rssAnonMiB() {
  const kb = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return Number(kb) / 1024;
}

/** The backlog drained while INGEST_RATE readings/s keep arriving (appended as a source would). */
async function catchUp(brokers, topic) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-kcatchup-'));
  await fillQueue(dataDir, BACKLOG);
  const gw = await startGateway(dataDir, brokers, topic);
  const started = performance.now();
  let appended = BACKLOG;
  let ingesting = true;
  const ingest = (async () => {
    // 50 readings every 10 ms, paced against the clock so that a slow append does not lower the rate.
    while (ingesting) {
      const due = Math.floor(((performance.now() - started) / 1000) * INGEST_RATE) + BACKLOG;
      if (due > appended) {
        const n = due - appended;
        await gw.queue.append(Array.from({ length: n }, (_, k) => reading(appended + k)));
        appended += n;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  // Anonymous RSS (heap, buffers): the queue's LMDB map adds file pages to RSS as the cursor moves, which
  // the kernel can drop at will; memory that grows with the backlog shows in RssAnon.
  const rss = [];
  const sampler = setInterval(() => rss.push(rssAnonMiB()), 1_000);
  // Caught up: the sink's cursor within one second of ingest of the head.
  await until(() => gw.queue.cursorPosition('kafka') >= appended - INGEST_RATE, {
    timeoutMs: 6 * 60 * 60_000,
    intervalMs: 50,
    what: 'the drain caught up with ingest',
    state: () => ({ cursor: gw.queue.cursorPosition('kafka'), appended }),
  });
  const seconds = (performance.now() - started) / 1000;
  ingesting = false;
  await ingest;
  clearInterval(sampler);
  await gw.stop();
  rmSync(dataDir, { recursive: true, force: true });
  const settled = rss.slice(Math.min(5, Math.floor(rss.length / 4)));
  return {
    seconds,
    ingested: appended - BACKLOG,
    rssMin: Math.min(...settled),
    rssMax: Math.max(...settled),
  };
}

/** Sluice's durable MQTT QoS 1 ingest at 8 publishers x 32 in flight, by mqtt-ingest.mjs in its own run. */
function mqttIngest() {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(here, 'mqtt-ingest.mjs'), '--shapes', '8x32', '--targets', 'sluice', '--seconds', '5'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('sluice mqtt_broker'));
      const rate = Number(line?.slice(46).trim().split(/\s+/)[0]);
      if (code === 0 && Number.isFinite(rate)) resolve(rate);
      else reject(new Error(`mqtt-ingest.mjs exited ${code}:\n${out}`));
    });
  });
}

/** The sweep: each cell's drain and bare KafkaJS at its batch, rounds interleaved; medians and ranges. */
async function sweep(spec, brokers, topic, exact) {
  const cells = spec.split(',').map((c) => {
    const batch = Number(c);
    return { label: c, batch };
  });
  const rounds = Number(process.env.KAFKA_DRAIN_ROUNDS ?? 3);
  const rates = new Map();
  const add = (label, r) => rates.set(label, [...(rates.get(label) ?? []), r]);
  for (let round = 0; round < rounds; round++) {
    for (const cell of cells) {
      const top = await topic(`sweep-${cell.label}`);
      const r = await sluiceDrain(brokers, top, cell);
      await exact(cell.label, top, N);
      add(`sluice, batch ${cell.batch}`, r);
    }
    for (const batch of new Set(cells.map((c) => c.batch))) {
      const top = await topic(`sweep-kafkajs-${batch}`);
      const spec = {
        client: 'kafkajs',
        codec: 'none',
        window: 1,
        brokers,
        topic: top,
        n: N,
        batch,
        idempotent: true,
      };
      const r = await runChild(spec);
      await exact('kafkajs', top, N);
      add(`bare KafkaJS, batch ${batch}`, { rate: r.sent / (r.elapsedMs / 1000), cpuPer: r.cpuUs / r.sent });
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const f = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(
    `\nkafka drain sweep, ${f(N)} readings, ${rounds} rounds, real Kafka ${cluster.version}, acks all, idempotent`,
  );
  const med = {};
  for (const [label, rs] of rates) {
    const r = rs.map((x) => x.rate);
    med[label] = median(r);
    console.log(
      `  ${label.padEnd(34)} median ${f(median(r)).padStart(7)} readings/s (${f(Math.min(...r))}-${f(Math.max(...r))}) ` +
        `${median(rs.map((x) => x.cpuPer)).toFixed(1)} us/reading`,
    );
  }
  for (const cell of cells) {
    const ratio = med[`sluice, batch ${cell.batch}`] / med[`bare KafkaJS, batch ${cell.batch}`];
    console.log(
      `goal: drain (${cell.label}) >= 0.9 x bare KafkaJS: ${f(ratio, 2)} ${ratio >= 0.9 ? 'MET' : 'NOT MET'}`,
    );
  }
  console.log('(machine shared with parallel work: 2 cores, the 3 brokers on the same cores as the gateway)');
}

const cluster = await startKafkaCluster({ nodes: 3 });
const work = mkdtempSync(join(tmpdir(), 'sluice-kdrain-work-'));
const f = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
try {
  const brokers = [...cluster.bootstrap];
  let t = 0;
  const topic = async (name) => {
    const full = `drain-${name}-${++t}`;
    await createTopic(cluster, full, { partitions: PARTITIONS, replication: 3 });
    return full;
  };
  const exact = async (name, top, n) => {
    const stored = await messageCount(cluster, top);
    if (stored < n) throw new Error(`${name}: ${stored} readings on the log, ${n} acknowledged: LOST`);
  };

  // Warm-up: a fresh cluster's JVMs are slow to their first requests (JIT); whichever cell came first
  // would pay for it. One bare run into a topic of its own, not measured.
  const warm = await topic('warmup');
  await runChild({
    client: 'kafkajs',
    codec: 'none',
    window: 1,
    brokers,
    topic: warm,
    n: N / 2,
    batch: BATCH,
    idempotent: true,
  });

  if (process.env.KAFKA_DRAIN_SWEEP !== undefined) {
    await sweep(process.env.KAFKA_DRAIN_SWEEP, brokers, topic, exact);
  } else {
    const sluice = {};
    for (const client of SINK_CLIENTS) {
      const sluiceTopic = await topic(`sluice-${client}`);
      sluice[client] = await sluiceDrain(brokers, sluiceTopic, { batch: BATCH, client });
      await exact(`sluice (${client})`, sluiceTopic, N);
    }

    const bare = {};
    for (const client of ['kafkajs', 'platformatic']) {
      const top = await topic(client);
      const spec = {
        client,
        codec: 'none',
        window: 1,
        brokers,
        topic: top,
        n: N,
        batch: BATCH,
        idempotent: true,
      };
      const r = await runChild(spec);
      await exact(client, top, N);
      bare[client] = { rate: r.sent / (r.elapsedMs / 1000), cpuPer: r.cpuUs / r.sent, rss: r.rss / 2 ** 20 };
    }

    let kcat, ingest, catching;
    if (!QUICK) {
      const kcatTopic = await topic('kcat');
      const k = await kcatRun({
        brokers,
        topic: kcatTopic,
        window: 1,
        codec: 'none',
        idempotent: true,
        input: kcatInput(work, N),
      });
      await exact('kcat', kcatTopic, N);
      kcat = { rate: N / (k.elapsedMs / 1000), cpuPer: k.cpuUs / N, rss: k.rss / 2 ** 20 };

      ingest = await mqttIngest();
      const catchTopic = await topic('catchup');
      catching = await catchUp(brokers, catchTopic);
      await exact('catch-up', catchTopic, BACKLOG + catching.ingested - INGEST_RATE);
    }

    console.log(
      `\nkafka drain, ${f(N)} readings, batches of ${f(BATCH)}, real Kafka ${cluster.version}, 3 KRaft nodes, ` +
        `${PARTITIONS} partitions x3 replicas, acks all, idempotent, one batch in flight, node ${process.version}`,
    );
    const row = (label, r) =>
      console.log(
        `  ${label.padEnd(46)} ${f(r.rate).padStart(9)} readings/s ${r.cpuPer.toFixed(1).padStart(6)} us/reading ` +
          `RSS ${f(r.rss).padStart(4)} MiB`,
      );
    for (const client of SINK_CLIENTS) row(`sluice gateway drain, client: ${client}`, sluice[client]);
    row('bare KafkaJS 2.2.4, pre-encoded, same batches', bare.kafkajs);
    row('bare @platformatic/kafka, same batches', bare.platformatic);
    const goal = (text, value, target, met = value >= target) =>
      console.log(`goal: ${text}: ${f(value, 2)} ${met ? 'MET' : 'NOT MET'}`);
    for (const client of SINK_CLIENTS) {
      goal(
        `drain (${client}) >= 0.9 x bare ${CHOSEN} (the chosen client)`,
        sluice[client].rate / bare[CHOSEN].rate,
        0.9,
      );
      goal(`drain (${client}) >= 0.9 x bare KafkaJS`, sluice[client].rate / bare.kafkajs.rate, 0.9);
    }
    if (QUICK) {
      console.log(
        '(KAFKA_DRAIN_QUICK: no kcat, MQTT ingest or catch-up; machine shared: 2 cores, brokers on them)',
      );
    } else {
      const first = sluice[SINK_CLIENTS[0]];
      row('kcat -P (librdkafka), same keys and values', kcat);
      console.log(
        `  ${'sluice MQTT QoS 1 ingest, 8 x 32 in flight'.padEnd(46)} ${f(ingest).padStart(9)} msgs/s`,
      );
      const projected = (catching.seconds * OUTAGE) / BACKLOG / 60;
      console.log(
        `  catch-up: ${f(BACKLOG)} backlog + ${f(INGEST_RATE)}/s ingest: level after ${f(catching.seconds, 1)} s ` +
          `(${f(catching.ingested)} ingested meanwhile); projected for ${f(OUTAGE)}: ${f(projected, 1)} min; ` +
          `anonymous RSS ${f(catching.rssMin)}-${f(catching.rssMax)} MiB`,
      );
      goal(`drain (${SINK_CLIENTS[0]}) >= 2 x MQTT QoS 1 ingest (8 x 32)`, first.rate / ingest, 2);
      goal(`drain (${SINK_CLIENTS[0]}) >= 0.5 x kcat`, first.rate / kcat.rate, 0.5);
      goal(`catch-up of ${f(OUTAGE)} <= 10 min (projected, minutes)`, projected, 10, projected <= 10);
      const growth = catching.rssMax - catching.rssMin;
      goal('anonymous RSS flat during catch-up (growth MiB <= 64)', growth, 64, growth <= 64);
      console.log(
        '(machine shared with parallel work: 2 cores, the 3 brokers on the same cores as the gateway)',
      );
    }
  }
} finally {
  await cluster.close();
  rmSync(work, { recursive: true, force: true });
}
