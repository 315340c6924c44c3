// The sink's side of its producer thread (worker.ts for KafkaJS, worker-platformatic.ts for
// @platformatic/kafka, by config `client`): connect, send and disconnect as promises, the client's log
// lines into the component's logger, and a thread that died turned into a retriable error for every request
// it still owed, so the runner rewinds, reconnects (which starts a new thread) and resends.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TopicMessages } from 'kafkajs';
import type { Logger } from 'pino';
import { SluiceError } from '../../errors.js';
import type { KafkaSinkConfig } from './schema.js';
import { fromWire, type Reply, type Request, type SendResult, type WorkerData } from './wire.js';

const WORKERS: Record<KafkaSinkConfig['client'], string> = {
  kafkajs: 'worker.js',
  platformatic: 'worker-platformatic.js',
};

/**
 * A worker thread loads JavaScript: the client's worker beside this module in dist/. Under vitest this module
 * runs from its TypeScript source and Node 20 cannot load worker.ts, so the build's copy is used: tests need
 * `npm run build` first (npm test's pretest does it).
 */
function workerUrl(client: KafkaSinkConfig['client']): URL {
  const file = WORKERS[client];
  if (!import.meta.url.endsWith('.ts')) return new URL(`./${file}`, import.meta.url);
  const built = new URL(`../../../dist/gateway/sinks/kafka/${file}`, import.meta.url);
  if (!existsSync(fileURLToPath(built))) {
    throw new SluiceError('SLUICE_INTERNAL', `the Kafka producer thread is not built (${built.pathname})`, {
      hint: 'run `npm run build` first',
    });
  }
  return built;
}

type Pending = { resolve: (value: SendResult | undefined) => void; reject: (err: Error) => void };

export class ProducerThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private ended: Error | undefined;

  constructor(config: KafkaSinkConfig, log: Logger) {
    const workerData: WorkerData = { config };
    this.worker = new Worker(workerUrl(config.client), { workerData });
    // Kept alive by what it owes (ref while a request is pending), not by being open.
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      if ('log' in reply) {
        log[reply.log](reply.fields, reply.message);
        return;
      }
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.settled(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(fromWire(reply.error));
    });
    this.worker.on('error', (err) => {
      log.error({ err: err.message }, 'the Kafka producer thread failed');
      this.end(err);
    });
    this.worker.on('exit', (code) => this.end(new Error(`exit code ${code}`)));
  }

  /** False once the thread has died or been terminated: the sink then starts a new one. */
  get alive(): boolean {
    return this.ended === undefined;
  }

  async connect(): Promise<void> {
    await this.request({ id: this.nextId++, op: 'connect' });
  }

  async disconnect(): Promise<void> {
    await this.request({ id: this.nextId++, op: 'disconnect' });
  }

  /** One send in the thread (a KafkaJS sendBatch or a Producer.send); structured clone copies the messages. */
  async send(topicMessages: TopicMessages[]): Promise<SendResult> {
    const result = await this.request({ id: this.nextId++, op: 'send', topicMessages });
    if (result === undefined) throw new SluiceError('SLUICE_INTERNAL', 'the producer thread sent no result');
    return result;
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private request(req: Request): Promise<SendResult | undefined> {
    if (this.ended !== undefined) return Promise.reject(this.unreachable(this.ended));
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(req.id, { resolve, reject });
      try {
        this.worker.postMessage(req);
      } catch (err) {
        this.settled(req.id); // not sent (a value structured clone cannot copy): the promise rejects with it
        throw err;
      }
    });
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  private end(cause: Error): void {
    this.ended ??= cause;
    for (const [id, p] of this.pending) {
      this.settled(id);
      p.reject(this.unreachable(cause));
    }
  }

  private unreachable(cause: Error): SluiceError {
    return new SluiceError(
      'SLUICE_UPSTREAM_UNREACHABLE',
      `the Kafka producer thread ended: ${cause.message}`,
      { cause },
    );
  }
}
