// The Kafka sink's producer thread: owns the KafkaJS client and producer and runs each sendBatch the sink
// asks for, so that KafkaJS's record encoding, CRCs and socket work use a second core while the main thread
// reads the queue and encodes the next batch. One request at a time, in the order they come (wire.ts).
import { inspect } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { CompressionTypes, type Message, type Producer } from 'kafkajs';
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

/** Every (topic, partition) the partitioner picked during the current send (see the guard in producer.ts). */
const routed = new Map<string, Set<number>>();
let producer: Producer | undefined;

async function connect(): Promise<void> {
  if (producer === undefined) {
    const kafka = await createKafka(config, log);
    const partitioner = fastDefaultPartitioner;
    producer = kafka.producer({
      idempotent: config.idempotent,
      // One request in flight: a retried request can never overtake a later one (per-device order).
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
}

/** Structured clone turns a Buffer into a plain Uint8Array, which KafkaJS would write as String(value). */
function asBuffer(v: Message['value']): Message['value'] {
  const u: unknown = v;
  return u instanceof Uint8Array && !Buffer.isBuffer(u)
    ? Buffer.from(u.buffer, u.byteOffset, u.byteLength)
    : v;
}

async function send({ topicMessages }: SendRequest): Promise<SendResult> {
  if (producer === undefined) throw new Error('the Kafka producer is not connected');
  for (const { messages } of topicMessages) for (const m of messages) m.value = asBuffer(m.value);
  routed.clear();
  const acked = await producer.sendBatch({
    topicMessages,
    acks: config.acks === 'all' ? -1 : 1,
    timeout: config.request_timeout_ms,
    compression: config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
  });
  const picked: string[] = [];
  for (const [topic, parts] of routed) for (const p of parts) picked.push(partitionKey(topic, p));
  return { acked: acked.map((m) => partitionKey(m.topicName, m.partition)), routed: picked };
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

// The sink sends one request at a time; chaining keeps that order even if it did not.
let queue = Promise.resolve();
port.on('message', (req: Request) => {
  queue = queue.then(() => handle(req));
});
