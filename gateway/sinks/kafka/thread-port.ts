// The thread side of the Kafka sink's producer thread, shared by both clients' workers (worker.ts for
// KafkaJS, worker-platformatic.ts): the config the sink handed over, log lines sent to the sink's logger with
// plain values only, and the request loop that answers connect, send and disconnect one at a time, in the
// order they came (wire.ts). Loads no Kafka client.
import { inspect } from 'node:util';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { KafkaSinkConfig } from './schema.js';
import {
  toWire,
  type Reply,
  type Request,
  type SendRequest,
  type SendResult,
  type WorkerData,
} from './wire.js';

function threadPort(): MessagePort {
  if (parentPort === null)
    throw new Error('the Kafka producer thread modules run in a worker thread of the sink');
  return parentPort;
}
const port = threadPort();

export const config: KafkaSinkConfig = (workerData as WorkerData).config;

const post = (reply: Reply): void => port.postMessage(reply);

type Plain = string | number | boolean | null | undefined;
export type Level = 'error' | 'warn' | 'info' | 'debug';

/** Only plain values cross: a field a client fills with an object (or a function) is sent as text. */
export function log(level: Level, fields: Record<string, unknown>, message: string): void {
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
}

/** What a client's worker does for each request. */
export interface ProducerOps {
  connect(): Promise<unknown>;
  disconnect(): Promise<void>;
  send(req: SendRequest): Promise<SendResult>;
}

async function handle(ops: ProducerOps, req: Request): Promise<void> {
  try {
    if (req.op === 'connect') {
      await ops.connect();
      post({ id: req.id, ok: true });
    } else if (req.op === 'disconnect') {
      await ops.disconnect();
      post({ id: req.id, ok: true });
    } else {
      post({ id: req.id, ok: true, result: await ops.send(req) });
    }
  } catch (err) {
    post({ id: req.id, ok: false, error: toWire(err) });
  }
}

/** Answers the sink's requests with `ops`, one at a time: chaining keeps their order even if the sink did not. */
export function serve(ops: ProducerOps): void {
  let queue = Promise.resolve();
  port.on('message', (req: Request) => {
    queue = queue.then(() => handle(ops, req));
  });
}
