// The Kafka sink's producer thread: owns the KafkaJS client and producer and runs each sendBatch the sink
// asks for, so that KafkaJS's record encoding, CRCs and socket work use a second core while the main thread
// reads the queue and encodes the next batch. Sends start in the order they come (wire.ts).
import { inspect } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { CompressionTypes, type Message, type Producer } from 'kafkajs';
import { classify } from './classify.js';
import { createKafka, type LogSink } from './client.js';
import { fastDefaultPartitioner } from './partitioner.js';
import {
  partitionKey,
  toWire,
  type Reply,
  type Request,
  type SendRequest,
  type SendResult,
  type WorkerData,
} from './wire.js';

const port = parentPort;
if (port === null) throw new Error('worker.ts runs as a worker thread of the Kafka sink');
const { config } = workerData as WorkerData;

const post = (reply: Reply): void => port.postMessage(reply);

type Plain = string | number | boolean | null | undefined;

/** Only plain values cross: a log field KafkaJS fills with an object (or a function) is sent as text. */
const log: LogSink = (level, fields, message) => {
  const plain: Record<string, Plain> = {};
  for (const [k, v] of Object.entries(fields)) {
    plain[k] =
      v === null || v === undefined || ['string', 'number', 'boolean'].includes(typeof v)
        ? (v as Plain)
        : v instanceof Error
          ? v.message
          : inspect(v, { depth: 2 });
  }
  post({ log: level, fields: plain, message });
};

/**
 * The (topic, partition) set of the send each message belongs to, filled by the partitioner (see the guard in
 * sink.ts). Keyed by message, not one set per thread: with max_in_flight > 1 several sends partition at once.
 */
const routedBy = new WeakMap<Message, Set<string>>();
let producer: Producer | undefined;
let connecting: Promise<Producer> | undefined;

/** One producer, however many sends ask for it at once. */
function connect(): Promise<Producer> {
  connecting ??= open().finally(() => (connecting = undefined));
  return connecting;
}

async function open(): Promise<Producer> {
  if (producer === undefined) {
    const kafka = createKafka(config, log);
    const partitioner = fastDefaultPartitioner;
    producer = kafka.producer({
      idempotent: config.idempotent,
      // KafkaJS's idempotent producer holds a per-broker lock over each Produce round trip, so this is at most
      // one request per broker whatever the number; without idempotence the schema keeps it at 1, so that a
      // retried request never overtakes a later one (per-device order).
      maxInFlightRequests: config.max_in_flight ?? 1,
      createPartitioner: () => {
        const pick = partitioner();
        return (args) => {
          const p = pick(args);
          routedBy.get(args.message)?.add(partitionKey(args.topic, p));
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
  const routed = new Set<string>();
  for (const { messages } of topicMessages)
    for (const m of messages) {
      m.value = asBuffer(m.value);
      routedBy.set(m, routed);
    }
  let acked: Awaited<ReturnType<Producer['sendBatch']>>;
  try {
    acked = await current.sendBatch({
      topicMessages,
      acks: config.acks === 'all' ? -1 : 1,
      timeout: config.request_timeout_ms,
      compression: config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
    });
  } catch (err) {
    await afterFailure(err, routed.size);
    throw err;
  }
  return { acked: acked.map((m) => partitionKey(m.topicName, m.partition)), routed: [...routed] };
}

async function handle(req: Request): Promise<void> {
  try {
    if (req.op === 'connect') {
      await connect();
      post({ id: req.id, ok: true });
    } else if (req.op === 'disconnect') {
      const p = producer;
      producer = undefined;
      await p?.disconnect();
      post({ id: req.id, ok: true });
    } else {
      post({ id: req.id, ok: true, result: await send(req) });
    }
  } catch (err) {
    post({ id: req.id, ok: false, error: toWire(err) });
  }
}

// Sends start in the order they come and run side by side (the sink bounds them by max_in_flight); connect and
// disconnect wait for what came before them.
let queue = Promise.resolve();
port.on('message', (req: Request) => {
  if (req.op === 'send') void handle(req);
  else queue = queue.then(() => handle(req));
});
