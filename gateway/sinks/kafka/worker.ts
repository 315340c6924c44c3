// The Kafka sink's producer thread: owns the KafkaJS client and producer and runs each sendBatch the sink
// asks for, so that KafkaJS's record encoding, CRCs and socket work use a second core while the main thread
// reads the queue and encodes the next batch. One request at a time, in the order they come (thread-port.ts).
import { CompressionTypes, type Message, type Producer } from 'kafkajs';
import { classify } from './classify.js';
import { createKafka } from './client.js';
import { fastDefaultPartitioner } from './partitioner.js';
import { config, log, serve } from './thread-port.js';
import { partitionKey, type SendRequest, type SendResult } from './wire.js';

/** Every (topic, partition) the partitioner picked during the current send (see the guard in sink.ts). */
const routed = new Map<string, Set<number>>();
let producer: Producer | undefined;

async function connect(): Promise<Producer> {
  if (producer === undefined) {
    const kafka = createKafka(config, log);
    const partitioner = fastDefaultPartitioner;
    producer = kafka.producer({
      idempotent: config.idempotent,
      // One request in flight: a retried request can never overtake a later one (per-device order). Nor does
      // the sink send batches side by side: KafkaJS's idempotent producer rolls a failed request's sequence
      // numbers back (sendMessages.js) and the next request waiting on that broker takes them, so when the
      // failed one was written (a lost response) and the next has as many messages for a partition, the
      // broker takes it for a retry and acknowledges it unwritten. Measured: 5 batches in flight and one lost
      // response lost 100 acknowledged readings (test/sinks/kafka/faults.test.ts, issue 17).
      maxInFlightRequests: 1,
      createPartitioner: () => {
        const pick = partitioner();
        return (args) => {
          const p = pick(args);
          let parts = routed.get(args.topic);
          if (parts === undefined) routed.set(args.topic, (parts = new Set()));
          parts.add(p);
          return p;
        };
      },
    });
  }
  await producer.connect();
  return producer;
}

/**
 * Whether an idempotent producer must start over (a new producer id, sequences from 0) after a failed send.
 * KafkaJS rolls back the sequence numbers of every partition of a failed Produce request, also those the
 * broker wrote (sendMessages.js). Resent in the same shape, the broker recognises the batch (no duplicate);
 * in another shape, it answers OUT_OF_ORDER_SEQUENCE_NUMBER, for good. Two failures lead there: a request
 * the broker refused only in part (the per-message isolation of refused records follows), and any resend
 * after which the broker already says so (a rewound batch that grew). After a reset what the broker wrote
 * before may be written again, with the same ids (at least once).
 */
function mustReset(err: unknown, partitions: number): boolean {
  const c = classify(err);
  return (c.disposition === 'reject' && partitions > 1) || c.kind === 'OUT_OF_ORDER_SEQUENCE_NUMBER';
}

async function afterFailure(err: unknown, partitions: number): Promise<void> {
  const p = producer;
  if (!config.idempotent || p === undefined || !mustReset(err, partitions)) return;
  producer = undefined; // the next send connects a new one
  try {
    await p.disconnect();
  } catch (e) {
    log(
      'debug',
      { error: e instanceof Error ? e.message : String(e) },
      'disconnecting the old producer failed',
    );
  }
}

/** Structured clone turns a Buffer into a plain Uint8Array, which KafkaJS would write as String(value). */
function asBuffer(v: Message['value']): Message['value'] {
  const u: unknown = v;
  return u instanceof Uint8Array && !Buffer.isBuffer(u)
    ? Buffer.from(u.buffer, u.byteOffset, u.byteLength)
    : v;
}

async function send({ topicMessages }: SendRequest): Promise<SendResult> {
  // Undefined after a reset (afterFailure): the new producer connects here, with the request it serves.
  const current = producer ?? (await connect());
  for (const { messages } of topicMessages) for (const m of messages) m.value = asBuffer(m.value);
  routed.clear();
  let acked: Awaited<ReturnType<Producer['sendBatch']>>;
  try {
    acked = await current.sendBatch({
      topicMessages,
      acks: config.acks === 'all' ? -1 : 1,
      timeout: config.request_timeout_ms,
      compression: config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
    });
  } catch (err) {
    let partitions = 0;
    for (const parts of routed.values()) partitions += parts.size;
    await afterFailure(err, partitions);
    throw err;
  }
  const picked: string[] = [];
  for (const [topic, parts] of routed) for (const p of parts) picked.push(partitionKey(topic, p));
  return { acked: acked.map((m) => partitionKey(m.topicName, m.partition)), routed: picked };
}

serve({
  connect,
  async disconnect() {
    const p = producer;
    producer = undefined;
    await p?.disconnect();
  },
  send,
});
