// The Kafka sink's producer thread on @platformatic/kafka (config `client: platformatic`): the same wire
// protocol as worker.ts (KafkaJS) and the same guarantees. Acks all and an idempotent producer by default,
// one request in flight, each key on the partition the Java client (and KafkaJS) picks, and a send counts
// only the partitions the brokers acknowledged: the partitions are chosen here, so `routed` is exact.
import {
  ProduceAcks,
  Producer,
  type MessageToProduce,
  type ProducerOptions,
  type SASLMechanismValue,
} from '@platformatic/kafka';
import { readPassword } from '../../config/credentials.js';
import { clientTlsOptions } from '../../config/tls.js';
import { classify } from './classify.js';
import { keyPartition, memoHash, murmur2 } from './murmur2.js';
import type { KafkaSinkConfig } from './schema.js';
import { config, log, serve } from './thread-port.js';
import { CLIENT_RETRIES, partitionKey, type SendRequest, type SendResult } from './wire.js';

const SASL: Record<NonNullable<KafkaSinkConfig['sasl']>['mechanism'], SASLMechanismValue> = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
};

type Bytes = Buffer;
type Client = Producer<Bytes, Bytes, Bytes, Bytes>;

/** Node TLS error codes: an alert the broker sends after the handshake (mTLS refused) is one of these. */
const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/;

let producer: Client | undefined;
/**
 * A TLS error a connection of the current producer reported after its handshake. With TLS 1.3 the broker
 * refuses a client certificate after the client saw the handshake complete: @platformatic/kafka emits the
 * alert as the connection's 'error' and fails the request waiting on it with a bare "Connection closed". The
 * alert is what says why, so a failure that follows one carries it (classify.ts: setup, SLUICE_AUTH).
 */
let tlsAlert: Error | undefined;

function createProducer(): Client {
  const backoff = config.retry;
  const options: ProducerOptions<Bytes, Bytes, Bytes, Bytes> = {
    clientId: config.client_id,
    bootstrapBrokers: [...config.brokers],
    // Its connectTimeout bounds the SASL login too (Connection.ready()), KafkaJS's only the TCP and TLS
    // handshakes (its login has a timeout of its own): a SCRAM login is a few round trips and PBKDF2, which a
    // loaded host did not finish in 500 ms. The login gets a request's time on top.
    connectTimeout:
      config.connection_timeout_ms + (config.sasl === undefined ? 0 : config.request_timeout_ms),
    timeout: config.request_timeout_ms,
    // Its own retries count attempts after the first, like KafkaJS's; an idempotent Producer given <= 1
    // would retry forever (producer.js), and a send must end for the runner to take over.
    retries: CLIENT_RETRIES,
    retryDelay: (_client, _op, attempt) =>
      Math.min(backoff.max_ms, backoff.initial_ms * backoff.multiplier ** Math.max(0, attempt - 1)),
    idempotent: config.idempotent,
    acks: config.acks === 'all' ? ProduceAcks.ALL : ProduceAcks.LEADER,
    // One request in flight (worker.ts says why): an idempotent Producer forces it, a plain one is told.
    maxInflights: 1,
    autocreateTopics: false,
    ...(config.compression === 'none' ? {} : { compression: config.compression }),
    ...(config.tls === undefined ? {} : { tls: clientTlsOptions(config.tls) }),
    ...(config.sasl === undefined
      ? {}
      : {
          sasl: {
            mechanism: SASL[config.sasl.mechanism],
            username: config.sasl.username,
            // The schema requires one of password and password_file, so the reader finds one.
            password: readPassword(config.sasl) ?? '',
          },
        }),
  };
  const p: Client = new Producer(options);
  p.on('client:broker:connect', ({ connection }) => {
    connection.on('error', (err: unknown) => {
      const tls = tlsCause(err);
      if (tls !== undefined && p === producer) tlsAlert = tls;
      log('debug', { error: err }, 'a Kafka connection failed');
    });
  });
  return p;
}

function tlsCause(err: unknown): Error | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 8 && cur instanceof Error; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_CODE.test(code)) return cur;
    cur = cur.cause;
  }
  return undefined;
}

/** The failure, with the TLS alert that explains it if one came meanwhile. */
function explained(err: unknown): unknown {
  const alert = tlsAlert;
  tlsAlert = undefined;
  if (alert === undefined || !(err instanceof Error) || tlsCause(err) !== undefined) return err;
  return new AggregateError([err, alert], `${err.message} (after a TLS alert: ${alert.message})`);
}

/**
 * Connecting as KafkaJS's producer.connect() does: the cluster's metadata, and for an idempotent producer
 * its producer id, so that bad credentials, TLS and ACLs show at connect, not on the first batch.
 */
async function connect(): Promise<Client> {
  if (producer === undefined) producer = createProducer();
  const p = producer;
  tlsAlert = undefined;
  try {
    await p.metadata({ topics: [] });
    if (config.idempotent && p.producerId === undefined) await p.initIdempotentProducer({});
  } catch (err) {
    throw explained(err);
  }
  return p;
}

/** Protocol errors after which the producer id and sequence numbers can no longer be used. */
const RESET_KINDS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
]);

/**
 * Whether the idempotent producer must start over (a new producer id, sequences from 0), as worker.ts's
 * mustReset: @platformatic/kafka, too, leaves the sequence numbers of every partition of a failed Produce
 * request where they were, also those the broker wrote, so a partly refused request (whose refused records
 * are then isolated one by one, another shape) or a broker that says the sequence is off cannot go on.
 */
function mustReset(err: unknown, partitions: number): boolean {
  const c = classify(err);
  return (c.disposition === 'reject' && partitions > 1) || RESET_KINDS.has(c.kind);
}

async function afterFailure(err: unknown, partitions: number): Promise<void> {
  const p = producer;
  if (!config.idempotent || p === undefined || !mustReset(err, partitions)) return;
  producer = undefined; // the next send connects a new one
  await closeQuietly(p);
}

/** Forced: a send still retrying inside the old producer is abandoned (its batch fails and is resent). */
function closeForced(p: Client): Promise<void> {
  return new Promise((resolve, reject) => p.close(true, (err) => (err ? reject(err) : resolve())));
}

async function closeQuietly(p: Client): Promise<void> {
  try {
    await closeForced(p);
  } catch (e) {
    log('debug', { error: e }, 'closing the old producer failed');
  }
}

const hashOf = memoHash();
const roundRobin = new Map<string, number>();

/** A message's bytes: structured clone turned the sink's Buffers into plain Uint8Arrays. */
function bytes(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.from(String(v));
}

async function send({ topicMessages }: SendRequest): Promise<SendResult> {
  // Undefined after a reset (afterFailure): the new producer connects here, with the request it serves.
  const p = producer ?? (await connect());
  tlsAlert = undefined;
  const routed = new Map<string, Set<number>>();
  let result: Awaited<ReturnType<Client['send']>>;
  try {
    // Partition counts from the producer's metadata (cached for its metadataMaxAge, as the send would).
    const meta = await p.metadata({ topics: topicMessages.map((t) => t.topic) });
    const messages: MessageToProduce<Bytes, Bytes, Bytes, Bytes>[] = [];
    for (const { topic, messages: batch } of topicMessages) {
      const count = meta.topics.get(topic)?.partitionsCount ?? 0;
      if (count < 1) throw new Error(`no partitions known for topic ${topic}`);
      let parts = routed.get(topic);
      if (parts === undefined) routed.set(topic, (parts = new Set()));
      for (const m of batch) {
        // Java's default for keyed messages; keyless ones spread one by one (KafkaJS's round robin).
        let partition: number;
        if (typeof m.partition === 'number') partition = m.partition;
        else if (m.key === null || m.key === undefined) {
          const next = roundRobin.get(topic) ?? 0;
          roundRobin.set(topic, next + 1);
          partition = next % count;
        } else {
          partition = keyPartition(typeof m.key === 'string' ? hashOf(m.key) : murmur2(bytes(m.key)), count);
        }
        parts.add(partition);
        const headers = new Map<Buffer, Buffer>();
        for (const [k, v] of Object.entries(m.headers ?? {}))
          if (v !== undefined) headers.set(Buffer.from(k), bytes(Array.isArray(v) ? v[0] : v));
        messages.push({
          topic,
          partition,
          key: m.key === null || m.key === undefined ? undefined : bytes(m.key),
          value: bytes(m.value),
          headers,
          ...(m.timestamp === undefined ? {} : { timestamp: BigInt(m.timestamp) }),
        });
      }
    }
    result = await p.send({ messages });
  } catch (err) {
    let partitions = 0;
    for (const parts of routed.values()) partitions += parts.size;
    const e = explained(err);
    // Its metadata is kept for metadataMaxAge (5 s) and refreshed early only on a stale-metadata protocol
    // error: a leader that went away (connection refused) would be asked again until then. The resend asks
    // the cluster afresh, as KafkaJS's does.
    p.clearMetadata();
    await afterFailure(e, partitions);
    throw e;
  }
  const picked: string[] = [];
  for (const [topic, parts] of routed) for (const part of parts) picked.push(partitionKey(topic, part));
  // Only what the brokers answered without an error counts (a partition answered with one fails the send).
  const acked = (result.offsets ?? []).map((o) => partitionKey(o.topic, o.partition));
  return { acked, routed: picked };
}

serve({
  connect,
  async disconnect() {
    const p = producer;
    producer = undefined;
    if (p !== undefined) await closeForced(p);
  },
  send,
});
