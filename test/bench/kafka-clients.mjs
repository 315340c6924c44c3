// Kafka producer clients side by side on the REAL cluster (test/peers/kafka: Apache Kafka 4.x, 3 KRaft nodes,
// topics of 3 partitions x 3 replicas, min.insync.replicas 2): KafkaJS 2.2.4, @platformatic/kafka (1.x, the
// line that runs on Node 20), @confluentinc/kafka-javascript (librdkafka) when it is installed, through its
// KafkaJS-shaped API and through librdkafka's own produce API, and kcat (Debian's librdkafka) as the native
// ceiling. Every client sends the same pre-encoded readings (the sink's toMessage: JSON value, device key,
// four headers, CreateTime; kcat: two fixed headers, it has no per-message ones) in the same batches to the
// same partitions (Kafka's murmur2 of the key), acks all, idempotence on; `window` batches outstanding (w1
// is the sink today; w5 lets a client keep 5 produce requests in flight per broker). Each client runs in a
// child process of its own, so its CPU time (process.cpuUsage, all threads) and peak RSS are its own; kcat's
// come from GNU time. Bytes on the wire: the topic's log segment bytes on one replica (the broker stores the
// producer's compressed batches). After each cell the topic must hold exactly the readings sent (NOT EXACT
// otherwise: an acknowledged reading missing, or a duplicate).
// Codecs KafkaJS lacks come from external packages, found by name or by path (KAFKAJS_SNAPPY, KAFKAJS_LZ4,
// KAFKAJS_ZSTD); confluent-kafka-javascript is not a dependency (its install downloads a prebuilt binary):
// `CKJS_LINKING=dynamic npm install --no-save @confluentinc/kafka-javascript --build-from-source` builds it
// against the system's OpenSSL (needs a compiler, ~9 minutes here).
// Run: npm run build && node test/bench/kafka-clients.mjs [readings=200000] [batch=2000] [runs=3] [filter]
//   filter: a substring of the cell names, e.g. "kafkajs" or "zstd"; KAFKA_BENCH_CLIENTS=kafkajs,kcat: only those.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toMessage } from '../../dist/gateway/sinks/kafka/encode.js';
import { murmur2 } from '../../dist/gateway/sinks/kafka/partitioner.js';
import { figure, record } from './results.mjs';

const require = createRequire(import.meta.url);
const SELF = fileURLToPath(import.meta.url);
export const GATEWAY = 'gw-bench';
export const PARTITIONS = 3;

export const reading = (i) => ({
  device: `dev-${i % 100}`,
  metric: 'temperature',
  value: Math.round((20 + Math.sin(i / 500) * 5 + (i % 7) / 10) * 100) / 100,
  unit: 'C',
  ts: 1_700_000_000_000 + i * 10,
  source: 'bench',
  seq: i + 1,
});

/** The batches every client sends: plain objects, strings for key, value and headers. */
export function batches(n, size) {
  const out = [];
  for (let i = 0; i < n; i += size) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + size); k++) {
      const r = reading(k);
      const { message } = toMessage('json', GATEWAY, r, r.device);
      message.partition = (murmur2(Buffer.from(r.device)) & 0x7fffffff) % PARTITIONS;
      batch.push(message);
    }
    out.push(batch);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- child side

/** Keeps `window` sends outstanding until every batch is acknowledged. */
async function pump(all, window, send) {
  let next = 0;
  const lane = async () => {
    while (next < all.length) await send(all[next++]);
  };
  await Promise.all(Array.from({ length: window }, lane));
}

function kafkajsCodecs(kafkajs, codec) {
  const { CompressionTypes, CompressionCodecs } = kafkajs;
  const codecs = {
    none: CompressionTypes.None,
    gzip: CompressionTypes.GZIP,
    snappy: CompressionTypes.Snappy,
    lz4: CompressionTypes.LZ4,
    zstd: CompressionTypes.ZSTD,
  };
  const external = {
    snappy: () => require(process.env.KAFKAJS_SNAPPY ?? 'kafkajs-snappy'),
    lz4: () => new (require(process.env.KAFKAJS_LZ4 ?? 'kafkajs-lz4'))().codec,
    zstd: () => require(process.env.KAFKAJS_ZSTD ?? '@kafkajs/zstd')(),
  };
  if (external[codec]) {
    const c = external[codec]();
    CompressionCodecs[codecs[codec]] = typeof c === 'function' ? c : () => c;
  }
  return codecs[codec];
}

const clients = {
  async kafkajs({ brokers, topic, window, codec, idempotent }) {
    const kafkajs = require('kafkajs');
    const compression = kafkajsCodecs(kafkajs, codec);
    const kafka = new kafkajs.Kafka({ brokers, logLevel: kafkajs.logLevel.NOTHING });
    const producer = kafka.producer({ idempotent, maxInFlightRequests: window });
    await producer.connect();
    return {
      send: (messages) => producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1, compression }),
      close: () => producer.disconnect(),
    };
  },

  async platformatic({ brokers, topic, window, codec, idempotent }) {
    const { Producer, ProduceAcks, stringSerializers } = await import('@platformatic/kafka');
    const producer = new Producer({
      clientId: 'bench',
      bootstrapBrokers: brokers,
      acks: ProduceAcks.ALL,
      idempotent,
      maxInflights: window,
      serializers: stringSerializers,
      ...(codec !== 'none' && { compression: codec }),
    });
    await producer.metadata({ topics: [topic] });
    return {
      send: (messages) =>
        producer.send({
          messages: messages.map((m) => ({
            topic,
            key: m.key,
            value: m.value,
            headers: m.headers,
            partition: m.partition,
            timestamp: BigInt(m.timestamp),
          })),
        }),
      close: () => producer.close(),
    };
  },

  async confluent({ brokers, topic, window, codec, idempotent }) {
    const { KafkaJS } = require('@confluentinc/kafka-javascript');
    const kafka = new KafkaJS.Kafka({ kafkaJS: { brokers, logLevel: KafkaJS.logLevel.NOTHING } });
    const producer = kafka.producer({
      kafkaJS: { idempotent, acks: -1, maxInFlightRequests: window },
      'compression.codec': codec,
      'linger.ms': 1,
    });
    await producer.connect();
    return {
      send: (messages) => producer.send({ topic, messages }),
      close: () => producer.disconnect(),
    };
  },
};

/** librdkafka's own produce API (node-rdkafka's, in the same package): no KafkaJS-shaped layer on top. */
clients['confluent-native'] = async ({ brokers, topic, window, codec, idempotent }) => {
  const { Producer } = require('@confluentinc/kafka-javascript');
  const producer = new Producer({
    'bootstrap.servers': brokers.join(','),
    'enable.idempotence': idempotent,
    acks: 'all',
    'max.in.flight.requests.per.connection': window,
    'compression.codec': codec,
    'linger.ms': 1,
    dr_cb: true,
  });
  await new Promise((resolve, reject) => producer.connect({}, (err) => (err ? reject(err) : resolve())));
  producer.setPollInterval(2);
  producer.on('delivery-report', (err, report) => {
    const batch = report.opaque;
    if (err) batch.fail(err);
    else if (--batch.left === 0) batch.done();
  });
  return {
    send: (messages) =>
      new Promise((done, fail) => {
        const batch = { left: messages.length, done, fail };
        for (const m of messages)
          producer.produce(
            topic,
            m.partition,
            Buffer.from(m.value),
            m.key,
            Number(m.timestamp),
            batch,
            Object.entries(m.headers).map(([k, v]) => ({ [k]: v })),
          );
      }),
    close: () => new Promise((resolve) => producer.disconnect(resolve)),
  };
};

async function child(spec) {
  const all = batches(spec.n, spec.batch);
  const client = await clients[spec.client](spec);
  // One batch first: connections, metadata and producer id are set up outside the timed part.
  await client.send(all.shift());
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const rssBefore = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pump(all, spec.window, client.send);
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  await client.close();
  const sent = all.reduce((s, b) => s + b.length, 0);
  process.stdout.write(
    JSON.stringify({ sent, elapsedMs: elapsed, cpuUs: cpu.user + cpu.system, rss: peak, rssBefore }) + '\n',
  );
}

// --------------------------------------------------------------------------------------------- parent side

function available(name) {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** Which codecs a client can do here, and why not the others. */
function codecsOf(client) {
  if (client === 'kafkajs') {
    const ext = { snappy: 'kafkajs-snappy', lz4: 'kafkajs-lz4', zstd: '@kafkajs/zstd' };
    const ok = (c) => !ext[c] || available(process.env[`KAFKAJS_${c.toUpperCase()}`] ?? ext[c]);
    return ['gzip', 'lz4', 'snappy', 'zstd'].map((c) => [c, ok(c) ? null : `${ext[c]} not installed`]);
  }
  if (client === 'platformatic') {
    // zstd comes from node:zlib (Node >= 22.15); lz4 and snappy from its WebAssembly build.
    const zstd = typeof require('node:zlib').zstdCompressSync === 'function';
    return [
      ['gzip', null],
      ['lz4', null],
      ['snappy', null],
      ['zstd', zstd ? null : `node:zlib has no zstd on Node ${process.version}`],
    ];
  }
  if (client.startsWith('confluent')) {
    // The codecs its librdkafka was built with (a build from source without libzstd-dev has no zstd).
    const { features } = require('@confluentinc/kafka-javascript');
    return ['gzip', 'lz4', 'snappy', 'zstd'].map((c) => [
      c,
      features.includes(c) ? null : `its librdkafka was built without ${c}`,
    ]);
  }
  return ['gzip', 'lz4', 'snappy', 'zstd'].map((c) => [c, null]);
}

export function runChild(spec) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [SELF, 'child', JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10 * 60_000);
    proc.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line));
      else reject(new Error(`${spec.client} exited ${code}: ${err.slice(-1500)}`));
    });
  });
}

/** The same readings as kcat -P input: key \x1f value \x1e. kcat has per-run headers only: two fixed ones. */
export function kcatInput(dir, n) {
  const file = join(dir, 'kcat-input');
  const parts = [];
  for (const batch of batches(n, 10_000)) parts.push(batch.map((m) => `${m.key}\x1f${m.value}\x1e`).join(''));
  writeFileSync(file, parts.join(''));
  return file;
}

export function kcatRun({ brokers, topic, window, codec, idempotent, input }) {
  const args = [
    '-f',
    '%e %U %S %M',
    'kcat',
    '-P',
    '-b',
    brokers.join(','),
    '-t',
    topic,
    '-K',
    '\\x1f',
    '-D',
    '\\x1e',
    '-H',
    `sluice-gateway=${GATEWAY}`,
    '-H',
    'content-type=application/json',
    '-X',
    'acks=all',
    '-X',
    `enable.idempotence=${idempotent}`,
    '-X',
    `max.in.flight.requests.per.connection=${window}`,
    '-X',
    'partitioner=murmur2',
    '-X',
    `compression.codec=${codec}`,
  ];
  return new Promise((resolve, reject) => {
    const fd = openSync(input, 'r');
    const proc = spawn('/usr/bin/time', args, { stdio: [fd, 'ignore', 'pipe'] });
    closeSync(fd);
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    proc.on('close', (code) => {
      const last = err.trim().split('\n').pop() ?? '';
      const [e, u, s, maxKb] = last.split(' ').map(Number);
      if (code !== 0 || !Number.isFinite(maxKb))
        reject(new Error(`kcat exited ${code}: ${err.slice(-1500)}`));
      else resolve({ elapsedMs: e * 1000, cpuUs: (u + s) * 1e6, rss: maxKb * 1024 });
    });
  });
}

/** Log segment bytes of the topic on one replica (each partition's leader and followers hold the same). */
export function topicBytes(clusterDir, topic) {
  let total = 0;
  for (const node of readdirSync(clusterDir).filter((d) => d.startsWith('node-'))) {
    const data = join(clusterDir, node, 'data');
    for (const dir of readdirSync(data).filter((d) => d.startsWith(`${topic}-`)))
      for (const f of readdirSync(join(data, dir)).filter((f) => f.endsWith('.log')))
        total += statSync(join(data, dir, f)).size;
  }
  return total / 3;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function parent() {
  const N = Number(process.argv[2] ?? 200_000);
  const BATCH = Number(process.argv[3] ?? 2_000);
  const RUNS = Number(process.argv[4] ?? 3);
  const filter = process.argv[5] ?? '';
  const { register } = await import('node:module');
  register('./kafka-ts-hooks.mjs', import.meta.url);
  const { startKafkaCluster } = await import('../peers/kafka/cluster.ts');
  const { createTopic, messageCount } = await import('../peers/kafka/admin.ts');

  let names = ['kafkajs', 'platformatic', 'kcat'];
  if (available('@confluentinc/kafka-javascript')) names.splice(2, 0, 'confluent', 'confluent-native');
  else console.log('@confluentinc/kafka-javascript: not installed, left out');
  // KAFKA_BENCH_CLIENTS=kafkajs,kcat: only these.
  const only = process.env.KAFKA_BENCH_CLIENTS?.split(',');
  if (only) names = names.filter((n) => only.includes(n));
  const cells = [];
  for (const client of names) {
    cells.push({ client, codec: 'none', window: 1 }, { client, codec: 'none', window: 5 });
    for (const [codec, missing] of codecsOf(client))
      cells.push({ client, codec, window: 1, ...(missing && { missing }) });
  }
  const chosen = cells.filter((c) => `${c.client} ${c.codec} w${c.window}`.includes(filter));

  const cluster = await startKafkaCluster({ nodes: 3 });
  const work = mkdtempSync(join(tmpdir(), 'sluice-kclients-'));
  const results = new Map();
  try {
    const input = chosen.some((c) => c.client === 'kcat') ? kcatInput(work, N) : '';
    let t = 0;
    for (let run = 1; run <= RUNS; run++) {
      for (const cell of chosen) {
        const key = `${cell.client} ${cell.codec} w${cell.window}`;
        if (cell.missing) continue;
        const topic = `bench-${cell.client}-${cell.codec}-${cell.window}-${run}-${++t}`;
        await createTopic(cluster, topic, { partitions: PARTITIONS, replication: 3 });
        const spec = {
          ...cell,
          brokers: [...cluster.bootstrap],
          topic,
          n: N,
          batch: BATCH,
          idempotent: true,
        };
        let r;
        try {
          r = cell.client === 'kcat' ? await kcatRun({ ...spec, input }) : await runChild(spec);
        } catch (err) {
          console.log(`  ${key} run ${run}: FAILED ${String(err.message).split('\n')[0]}`);
          continue;
        }
        const sent = r.sent ?? N;
        // Idempotent and acks all: the log holds each reading exactly once, or the figures mean nothing.
        const stored = await messageCount(cluster, topic);
        if (stored !== N)
          console.log(`  ${key} run ${run}: ${stored} readings on the log, ${N} sent: NOT EXACT`);
        const row = {
          rate: sent / (r.elapsedMs / 1000),
          cpuPer: r.cpuUs / sent,
          rss: r.rss / 2 ** 20,
          bytesPer: topicBytes(cluster.dir, topic) / N,
        };
        console.log(
          `  run ${run} ${key.padEnd(22)} ${Math.round(row.rate).toLocaleString('en-US').padStart(9)}/s ` +
            `${row.cpuPer.toFixed(1).padStart(6)} us/reading  RSS ${row.rss.toFixed(0).padStart(4)} MiB  ` +
            `${row.bytesPer.toFixed(1)} B/reading on the log`,
        );
        if (!results.has(key)) results.set(key, []);
        results.get(key).push(row);
      }
    }
  } finally {
    await cluster.close();
    rmSync(work, { recursive: true, force: true });
  }

  const f = (x, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const stat = (rows, k, d) => {
    const xs = rows.map((r) => r[k]);
    return `${f(median(xs), d)} (${f(Math.min(...xs), d)}-${f(Math.max(...xs), d)})`;
  };
  console.log(
    `\nkafka clients, ${f(N)} readings (JSON, ${f(readingBytes())} B value), batches of ${f(BATCH)}, ` +
      `real Kafka ${cluster.version}, 3 KRaft nodes, ${PARTITIONS} partitions x3 replicas, acks all, idempotent, ` +
      `node ${process.version}, ${RUNS} runs: median (min-max)`,
  );
  console.log(
    '  cell                   readings/s              CPU us/reading    peak RSS MiB     log B/reading',
  );
  for (const cell of chosen) {
    const key = `${cell.client} ${cell.codec} w${cell.window}`;
    if (cell.missing) {
      console.log(`  ${key.padEnd(22)} n/a: ${cell.missing}`);
      continue;
    }
    const rows = results.get(key) ?? [];
    if (rows.length === 0) {
      console.log(`  ${key.padEnd(22)} every run failed`);
      continue;
    }
    console.log(
      `  ${key.padEnd(22)} ${stat(rows, 'rate', 0).padEnd(24)} ${stat(rows, 'cpuPer', 1).padEnd(17)} ` +
        `${stat(rows, 'rss', 0).padEnd(16)} ${stat(rows, 'bytesPer', 1)}`,
    );
  }
  console.log(
    '  (machine shared with parallel work: 2 cores, the 3 brokers on the same cores as the clients)',
  );
  const figures = [];
  for (const [key, rows] of results) {
    const of = (k) => rows.map((r) => r[k]);
    figures.push(
      figure(`${key}.rate`, `${key}`, of('rate'), 'readings/s'),
      figure(`${key}.cpu`, `${key} CPU`, of('cpuPer'), 'µs/reading'),
      figure(`${key}.rss`, `${key} peak RSS`, of('rss'), 'MiB'),
      figure(`${key}.bytes`, `${key} on the log`, of('bytesPer'), 'B/reading'),
    );
  }
  record('kafka-clients', {
    figures,
    params: { readings: N, batch: BATCH, runs: RUNS, filter, clients: names, kafka: cluster.version },
    notes: [
      ...chosen.filter((c) => c.missing).map((c) => `${c.client} ${c.codec} w${c.window}: n/a, ${c.missing}`),
      'the 3 brokers run on the same cores as the clients',
    ],
  });
}

function readingBytes() {
  const r = reading(0);
  return Buffer.byteLength(String(toMessage('json', GATEWAY, r, r.device).message.value));
}

// Imported by kafka-drain.mjs for its helpers: only a run of this file measures.
if (process.argv[1] === SELF) {
  if (process.argv[2] === 'child') await child(JSON.parse(process.argv[3]));
  else await parent();
}
