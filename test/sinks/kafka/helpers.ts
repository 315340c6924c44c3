// Shared by the Kafka sink tests: a sink against a cluster (the real one or librdkafka's mock), and kcat's
// view of a topic as records.
import { KafkaSink } from '../../../gateway/sinks/kafka/sink.js';
import { schema } from '../../../gateway/sinks/kafka/schema.js';
import { silentLogger } from '../../../gateway/observe/log.js';
import { noMetrics, type ComponentMetrics } from '../../../gateway/metrics-spec.js';
import { Queue } from '../../../gateway/queue/queue.js';
import type { ReadingRecord } from '../../../gateway/reading.js';
import { SinkRunner } from '../../../gateway/runtime/sink-runner.js';
import { tempDir } from '../../helpers/tmp.js';
import { kcatConsume, type KcatMessage } from '../../peers/kafka-mock/index.js';
import { assertBuilt as assertSinkBuilt } from '../built.js';

/** Any cluster the tests reach over PLAINTEXT: the real peer (test/peers/kafka/) or librdkafka's mock. */
export interface Brokers {
  readonly bootstrap: readonly string[];
}

export const GATEWAY = 'gw1';

/**
 * The sink's clients (config `client`): the real-cluster tests run on each. Not librdkafka's mock, which
 * @platformatic/kafka cannot talk to (it asks for ApiVersions v3 and Metadata v9 first; the mock answers
 * neither): mock-faults.test.ts stays on KafkaJS.
 */
export const KAFKA_CLIENTS = ['kafkajs', 'platformatic'] as const;
export type KafkaClient = (typeof KAFKA_CLIENTS)[number];

/**
 * The sink's producer thread runs dist/gateway/sinks/kafka/worker.js even under vitest (a worker thread
 * cannot load TypeScript), and the crash test's child runs dist/ whole.
 */
export function assertBuilt(): void {
  assertSinkBuilt('kafka');
}

/**
 * A sink with fast retries, so that faults cost the tests milliseconds. Not idempotent unless `over` says
 * so: the mock names no controller; tests on the real cluster pass `idempotent: true` (the default config).
 */
export function kafkaSink(
  cluster: Brokers,
  over: Record<string, unknown> = {},
  metrics: ComponentMetrics = noMetrics,
): KafkaSink {
  const config = schema.parse({
    type: 'kafka',
    brokers: cluster.bootstrap,
    topic: 'readings',
    idempotent: false,
    connection_timeout_ms: 500,
    request_timeout_ms: 5_000,
    retry: { initial_ms: 20, max_ms: 200 },
    ...over,
  });
  return new KafkaSink('kafka', config, {
    gatewayId: GATEWAY,
    dataDir: '/nonexistent',
    log: silentLogger,
    metrics,
  });
}

/** Fast retries for the sink and its runner alike. */
export const FAST_RETRY = { initial_ms: 20, max_ms: 200, multiplier: 2 };

/**
 * A durable queue in a temp dir and a runner feeding `sink` from it (oldest first, batches of `maxCount`,
 * no linger, fast retries): the path the gateway takes, minus the sources. The caller starts the runner.
 */
export function kafkaPipeline(sink: KafkaSink, maxCount = 100): { queue: Queue; runner: SinkRunner } {
  const queue = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const runner = new SinkRunner(
    sink,
    queue,
    {
      startFrom: 'oldest',
      batch: { max_count: maxCount, max_bytes: 1 << 20, linger_ms: 0 },
      retry: FAST_RETRY,
    },
    silentLogger,
    noMetrics,
  );
  return { queue, runner };
}

export interface Received {
  readonly msg: KcatMessage;
  readonly rec: ReadingRecord;
}

/** Every message of the topics, as kcat reads them (by partition, then offset), with the parsed value. */
export async function consume(cluster: Brokers, ...topics: string[]): Promise<Received[]> {
  const out: Received[] = [];
  for (const topic of topics) {
    for (const msg of await kcatConsume({ bootstrap: cluster.bootstrap, topic })) {
      out.push({ msg, rec: JSON.parse(msg.value ?? 'null') as ReadingRecord });
    }
  }
  return out;
}

/**
 * Checks what downstream dedup by (gateway, seq) would see: every expected seq exactly once, and within each
 * partition each device's first occurrences in increasing seq order. Returns a description of what is wrong.
 */
export function dedupProblems(got: readonly Received[], expected: readonly number[]): string[] {
  const problems: string[] = [];
  const first = new Map<string, Received>();
  for (const g of got) {
    const id = `${g.rec.gateway}:${g.rec.seq}`;
    const prev = first.get(id);
    if (prev === undefined) first.set(id, g);
    else if (JSON.stringify(prev.rec) !== JSON.stringify(g.rec))
      problems.push(`${id} delivered twice with different content`);
  }
  const seqs = [...first.values()].map((g) => g.rec.seq).sort((a, b) => a - b);
  const want = [...expected].sort((a, b) => a - b);
  if (seqs.length !== want.length || seqs.some((s, i) => s !== want[i])) {
    const have = new Set(seqs);
    const missing = want.filter((s) => !have.has(s));
    const wanted = new Set(want);
    problems.push(
      `missing ${missing.length} (first ${missing.slice(0, 5).join(',')}), unexpected ${seqs.filter((s) => !wanted.has(s)).length}`,
    );
  }
  const lastByDevice = new Map<string, number>();
  const seen = new Set<string>();
  for (const g of got) {
    const id = `${g.rec.gateway}:${g.rec.seq}`;
    if (seen.has(id)) continue; // a duplicate: dedup drops it, so it cannot reorder anything
    seen.add(id);
    const dev = `${g.msg.topic}/${g.rec.device}`;
    const prev = lastByDevice.get(dev) ?? 0;
    if (g.rec.seq < prev) problems.push(`${dev}: seq ${g.rec.seq} after ${prev}`);
    lastByDevice.set(dev, g.rec.seq);
  }
  return problems;
}
