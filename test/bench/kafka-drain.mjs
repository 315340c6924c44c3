// Drain of a queued backlog to Kafka (librdkafka's mock cluster, 3 brokers, acks all, replication 3), side by
// side in one run with (a) a bare KafkaJS producer sending the same pre-encoded batches from memory, one
// request in flight like the sink, and (b) kcat (librdkafka) producing the same keys and values; plus the
// durable ingest rate of the queue (100 producers x 10 in flight, one reading per append, as an MQTT broker
// under QoS 1 load appends), which the drain must outpace by 3x for a backlog to shrink while ingest goes on.
// Run: npm run build && node test/bench/kafka-drain.mjs [readings=1000000] [batch=2000]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../dist/gateway/config/load.js';
import { Queue } from '../../dist/gateway/queue/queue.js';
import { Gateway } from '../../dist/gateway/runtime/gateway.js';
import { until } from '../helpers/wait.mjs';
import { toMessage } from '../../dist/gateway/sinks/kafka/encode.js';

const require = createRequire(import.meta.url);
const { Kafka, Partitioners, logLevel } = require('kafkajs');

const N = Number(process.argv[2] ?? 1_000_000);
const BATCH = Number(process.argv[3] ?? 2_000);
const INGEST_SECONDS = 3;
const PARTITIONS = 3;
const GATEWAY = 'gw-bench';
const here = dirname(fileURLToPath(import.meta.url));
const peerSource = join(here, '..', 'peers', 'kafka-mock', 'mock-cluster.c');
const peerBinary = join(here, '..', '.peers', 'kafka-mock-cluster');

const reading = (i) => ({
  device: `dev-${i % 100}`,
  metric: 'temperature',
  value: 20 + (i % 100) / 10,
  unit: 'C',
  ts: 1_700_000_000_000 + i,
  source: 'bench',
});

/** The mock cluster, built like the test peer does (test/peers/kafka-mock/index.ts), driven over stdin. */
async function startCluster() {
  if (!existsSync(peerBinary) || statSync(peerBinary).mtimeMs < statSync(peerSource).mtimeMs) {
    mkdirSync(dirname(peerBinary), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-o', peerBinary, peerSource, '-lrdkafka']);
  }
  const child = spawn(peerBinary, ['3'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = (await lines.next()).value ?? '';
  const bootstrap = first.replace(/^BOOTSTRAP /, '');
  const command = async (c) => {
    child.stdin.write(`${c}\n`);
    const reply = (await lines.next()).value ?? '';
    if (!reply.startsWith('OK')) throw new Error(`mock cluster: ${c}: ${reply}`);
  };
  return { bootstrap, command, close: () => new Promise((r) => (child.once('close', r), child.stdin.end())) };
}

function kafkaConfig(bootstrap) {
  return {
    type: 'kafka',
    brokers: bootstrap.split(','),
    idempotent: false,
    acks: 'all',
    start_from: 'oldest',
    batch: { max_count: BATCH, max_bytes: '64MiB', linger_ms: 0 },
  };
}

/** Sluice: fills a queue with N readings, then times the real Gateway draining it to Kafka. */
async function sluiceDrain(bootstrap, topic) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-kbench-'));
  const fill = Queue.open({
    dir: join(dataDir, 'queue'),
    maxBytes: 16 * 1024 ** 3,
    onFull: 'reject_new',
    noSync: true,
  });
  for (let i = 0; i < N; i += 10_000)
    await fill.append(Array.from({ length: Math.min(10_000, N - i) }, (_, k) => reading(i + k)));
  await fill.close();
  const config = validateConfig({
    gateway: { id: GATEWAY, data_dir: dataDir },
    log: { level: 'warn' },
    sinks: { kafka: { ...kafkaConfig(bootstrap), topic } },
  });
  const started = performance.now();
  const gw = await Gateway.start(config);
  // Half an hour is far past any drain; a stalled one ends with where the cursor stopped.
  await until(() => gw.queue.cursorPosition('kafka') >= N, {
    timeoutMs: 30 * 60_000,
    intervalMs: 5,
    what: `${N} readings drained`,
    state: () => gw.status().sinks[0],
  });
  const elapsed = performance.now() - started;
  await gw.stop();
  rmSync(dataDir, { recursive: true, force: true });
  return elapsed;
}

/** Bare KafkaJS: the same messages, encoded up front, in the same batches, one sendBatch at a time. */
async function kafkajsBaseline(bootstrap, topic) {
  const batches = [];
  for (let i = 0; i < N; i += BATCH) {
    const batch = [];
    for (let k = i; k < Math.min(N, i + BATCH); k++) {
      const r = { ...reading(k), seq: k + 1 };
      batch.push(toMessage('json', GATEWAY, r, r.device).message);
    }
    batches.push(batch);
  }
  const kafka = new Kafka({ brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const started = performance.now();
  for (const messages of batches)
    await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 });
  const elapsed = performance.now() - started;
  await producer.disconnect();
  return elapsed;
}

/** kcat -P: the same keys and values (headers are per-run in kcat, so fixed ones), librdkafka defaults (acks all). */
async function kcatBaseline(bootstrap, topic) {
  const started = performance.now();
  const child = spawn(
    'kcat',
    [
      '-P',
      '-b',
      bootstrap,
      '-t',
      topic,
      '-K',
      '\\x1f',
      '-D',
      '\\x1e',
      '-H',
      `sluice-gateway=${GATEWAY}`,
      '-X',
      'acks=all',
    ],
    {
      stdio: ['pipe', 'ignore', 'inherit'],
    },
  );
  const exited = new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`kcat exited ${code}`)))),
  );
  for (let i = 0; i < N; i += 10_000) {
    let chunk = '';
    for (let k = i; k < Math.min(N, i + 10_000); k++) {
      const r = { ...reading(k), seq: k + 1 };
      chunk += `${r.device}\x1f${toMessage('json', GATEWAY, r, r.device).message.value}\x1e`;
    }
    if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
  }
  child.stdin.end();
  await exited;
  return performance.now() - started;
}

/**
 * Durable ingest: `inflight` appends of one reading each kept going, fsync'd group commits; what an MQTT broker
 * source can at most ingest with that many QoS 1 publishes in flight (10: one client at mosquitto's default
 * window, 1000: a hundred such clients). The broker's own work comes on top, so real MQTT ingest is lower.
 */
async function durableIngest(inflight) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-kbench-ingest-'));
  const q = Queue.open({ dir, maxBytes: 4 * 1024 ** 3, onFull: 'drop_oldest' });
  await q.openCursor('bench');
  const end = Date.now() + INGEST_SECONDS * 1000;
  let appended = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async (_, p) => {
      for (let i = p; Date.now() < end; i += inflight) {
        await q.append([reading(i)]);
        appended++;
      }
    }),
  );
  const rate = appended / ((performance.now() - started) / 1000);
  await q.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

const cluster = await startCluster();
try {
  for (const t of ['bench-sluice', 'bench-kafkajs', 'bench-kcat'])
    await cluster.command(`topic ${t} ${PARTITIONS} 3`);
  const f = (n) => Math.round(n).toLocaleString('en-US');
  const sluice = N / ((await sluiceDrain(cluster.bootstrap, 'bench-sluice')) / 1000);
  const kafkajs = N / ((await kafkajsBaseline(cluster.bootstrap, 'bench-kafkajs')) / 1000);
  const kcat = N / ((await kcatBaseline(cluster.bootstrap, 'bench-kcat')) / 1000);
  const ingest1 = await durableIngest(10);
  const ingest = await durableIngest(1000);
  console.log(
    `kafka drain, ${f(N)} readings, batches of ${BATCH}, mock cluster 3 brokers, ${PARTITIONS} partitions x3 replicas, acks all, node ${process.version}`,
  );
  console.log(`  sluice gateway drain (queue -> sink -> ack)  ${f(sluice).padStart(10)} readings/s`);
  console.log(`  bare KafkaJS, pre-encoded, same batches      ${f(kafkajs).padStart(10)} readings/s`);
  console.log(`  kcat -P (librdkafka), same keys and values   ${f(kcat).padStart(10)} readings/s`);
  console.log(
    `  durable ingest, 10 appends in flight         ${f(ingest1).padStart(10)} readings/s  (one MQTT QoS 1 client)`,
  );
  console.log(
    `  durable ingest, 1000 appends in flight       ${f(ingest).padStart(10)} readings/s  (100 such clients)`,
  );
  const vsKafkajs = sluice / kafkajs;
  const vsIngest = sluice / ingest;
  const vsIngest1 = sluice / ingest1;
  console.log(
    `goal: drain >= 0.8 x bare KafkaJS: ${vsKafkajs.toFixed(2)} ${vsKafkajs >= 0.8 ? 'MET' : 'NOT MET'}`,
  );
  console.log(
    `goal: drain >= 3 x durable ingest, one client: ${vsIngest1.toFixed(2)} ${vsIngest1 >= 3 ? 'MET' : 'NOT MET'}`,
  );
  console.log(
    `goal: drain >= 3 x durable ingest, 100 clients: ${vsIngest.toFixed(2)} ${vsIngest >= 3 ? 'MET' : 'NOT MET'}`,
  );
} finally {
  await cluster.close();
}
