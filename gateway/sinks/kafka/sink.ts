// The Kafka sink: turns each queue batch into a few KafkaJS sendBatch requests (bounded by max_request_bytes),
// one at a time with one request in flight, so a device's readings reach its partition in sequence order.
// A batch counts as delivered only once Kafka acknowledged every partition it touched (acks all by default);
// retriable failures are thrown for the runner to rewind and resend; records the broker refuses for good are
// isolated one message at a time and handed back as dead letters. One batch is in flight while the runner
// acks the previous one and reads the next; its progress is reported by the following write or flush.
// KafkaJS itself runs in a worker thread (thread.ts, worker.ts): its protocol encoding takes the second core.
import type { Message, TopicMessages } from 'kafkajs';
import type { ComponentDeps, ComponentHealth, DeadLetter, Sink, SinkProgress } from '../../components.js';
import { failedHealth } from '../../components.js';
import { SluiceError, errorMessage } from '../../errors.js';
import { readingId, type QueuedReading } from '../../reading.js';
import { classify, isUnreachable, type Classified } from './classify.js';
import { CONTENT_TYPES, HEADERS, toMessage } from './encode.js';
import type { KafkaSinkConfig } from './schema.js';
import { ProducerThread } from './thread.js';
import { compileTemplate, TopicCache, type Template } from './topics.js';

type Outcome =
  | { readonly ok: true; readonly progress: SinkProgress }
  | { readonly ok: false; readonly error: SluiceError };

interface Prepared {
  readonly items: readonly Item[];
  readonly dead: DeadLetter[];
  readonly last: number;
}

interface Item {
  readonly reading: QueuedReading;
  readonly topic: string;
  readonly message: Message;
  readonly bytes: number;
}

export class KafkaSink implements Sink {
  readonly type = 'kafka';
  /** The KafkaJS producer, in its thread; set by connect, cleared by close. */
  private producer: ProducerThread | undefined;
  private status: ComponentHealth = { state: 'starting' };
  private lastSuccessAt: number | undefined;
  /** The batch being sent, whose progress the next write or flush reports. */
  private inflight: Promise<Outcome> | undefined;
  private readonly topic: Template;
  private readonly key: Template | undefined;
  private readonly topics = new TopicCache();

  constructor(
    readonly name: string,
    private readonly config: KafkaSinkConfig,
    private readonly deps: ComponentDeps,
  ) {
    this.topic = compileTemplate(config.topic);
    this.key = config.key === '' ? undefined : compileTemplate(config.key);
  }

  async connect(): Promise<void> {
    try {
      if (this.producer?.alive !== true) this.producer = new ProducerThread(this.config, this.deps.log);
      await this.producer.connect();
    } catch (err) {
      throw this.fail('connect', err);
    }
    this.status = { state: 'healthy', detail: 'connected', lastSuccessAt: this.lastSuccessAt };
  }

  /**
   * Encodes this batch, waits for the previous batch's send, starts this one and returns the previous one's
   * progress: one batch is in flight while the runner acks the last one and reads the next (reading, acking
   * and encoding overlap the network). Sends never overlap each other, so per-device order holds.
   */
  async write(batch: readonly QueuedReading[]): Promise<SinkProgress> {
    const prepared = this.prepare(batch);
    const previous = await this.settle();
    if (prepared !== undefined) {
      // Settled into an outcome at once: a failure is reported by the next write or flush, never unhandled.
      this.inflight = this.deliver(prepared).then(
        (progress): Outcome => ({ ok: true, progress }),
        (err: unknown): Outcome => ({ ok: false, error: this.fail('write', err) }),
      );
    }
    return previous;
  }

  /** Waits for the batch in flight; nothing else is held. */
  flush(_reason: 'idle' | 'shutdown'): Promise<SinkProgress> {
    return this.settle();
  }

  async close(): Promise<void> {
    // A batch still in flight was not acked, so it stays queued; its outcome only needs to be waited for.
    const outcome = await this.inflight;
    this.inflight = undefined;
    if (outcome?.ok === false)
      this.deps.log.warn({ err: outcome.error.message }, 'the last batch failed at close; it stays queued');
    const producer = this.producer;
    this.producer = undefined;
    this.status = { state: 'stopped' };
    if (producer === undefined) return;
    try {
      await producer.disconnect();
    } catch (err) {
      // Nothing is lost: whatever was not acknowledged is still queued. Reported, not thrown, so stop completes.
      this.deps.log.warn({ err: errorMessage(err) }, 'disconnecting from Kafka failed');
    }
    await producer.terminate();
  }

  health(): ComponentHealth {
    return this.status;
  }

  /** Expands topics and keys and encodes; readings that cannot be sent as they are become dead letters. */
  private prepare(batch: readonly QueuedReading[]): Prepared | undefined {
    const last = batch[batch.length - 1];
    if (last === undefined) return undefined;
    const dead: DeadLetter[] = [];
    const items: Item[] = [];
    const { gatewayId } = this.deps;
    for (const r of batch) {
      const topic = this.topic.expand(r);
      const problem = this.topics.problem(topic);
      if (problem !== undefined) {
        dead.push(rejected(r, `illegal topic from template ${this.topic.text}: ${problem}`, 'INVALID_TOPIC'));
        this.deps.metrics.error('produce', 'INVALID_TOPIC');
        continue;
      }
      const { message, bytes } = toMessage(
        this.config.value_format,
        gatewayId,
        r,
        this.key?.expand(r) ?? null,
      );
      if (bytes > this.config.max_message_bytes) {
        const why = `the message is ${bytes} bytes, over max_message_bytes (${this.config.max_message_bytes})`;
        dead.push(rejected(r, why, 'MESSAGE_TOO_LARGE'));
        this.deps.metrics.error('produce', 'MESSAGE_TOO_LARGE');
        continue;
      }
      items.push({ reading: r, topic, message, bytes });
    }
    return { items, dead, last: last.seq };
  }

  /** Sends a prepared batch in requests of at most max_request_bytes, one after the other. */
  private async deliver({ items, dead, last }: Prepared): Promise<SinkProgress> {
    let bytes = 0;
    for (const chunk of chunks(items, this.config.max_request_bytes))
      bytes += await this.sendChunk(chunk, dead);
    if (dead.length > 0 && this.config.dead_letter_topic !== undefined) await this.noteDeadLetters(dead);
    this.lastSuccessAt = Date.now();
    this.status = { state: 'healthy', detail: 'connected', lastSuccessAt: this.lastSuccessAt };
    // The dead-letter notes are not counted: their readings are counted as discarded, not as sent.
    return dead.length > 0
      ? { committedThrough: last, deadLetters: dead, bytes }
      : { committedThrough: last, bytes };
  }

  /** The outcome of the batch in flight, if any: its progress, or its error thrown (the runner rewinds). */
  private async settle(): Promise<SinkProgress> {
    const pending = this.inflight;
    if (pending === undefined) return {};
    const outcome = await pending;
    this.inflight = undefined;
    if (!outcome.ok) throw outcome.error;
    return outcome.progress;
  }

  /**
   * Sends one request's worth; returns its bytes. When the broker refuses records for good, the request is
   * retried one message at a time to find which readings it refuses; those become dead letters, the rest
   * is delivered (partitions the first attempt had already written may then hold a duplicate: same id).
   */
  private async sendChunk(chunk: readonly Item[], dead: DeadLetter[]): Promise<number> {
    try {
      await this.send(chunk);
      return sum(chunk);
    } catch (err) {
      const c = classify(err);
      if (c.disposition !== 'reject') throw err;
      this.deps.metrics.error('produce', c.kind);
      this.deps.log.warn(
        { kind: c.kind, messages: chunk.length },
        'Kafka refused a request; isolating the refused readings',
      );
    }
    let bytes = 0;
    for (const item of chunk) {
      try {
        await this.send([item]);
        bytes += item.bytes;
      } catch (err) {
        const c = classify(err);
        if (c.disposition !== 'reject') throw err;
        this.deps.metrics.error('produce', c.kind);
        dead.push(rejected(item.reading, `Kafka refused it (topic ${item.topic}): ${c.message}`, c.kind));
      }
    }
    return bytes;
  }

  private async send(items: readonly Item[]): Promise<void> {
    const producer = this.producer;
    if (producer === undefined) {
      throw new SluiceError('SLUICE_UPSTREAM_UNREACHABLE', 'the Kafka producer is not connected');
    }
    const { acked, routed } = await producer.send(byTopic(items));
    // KafkaJS 2.2.4 can resolve a sendBatch without producing to a partition: when a retry finds the
    // partition's leader moved to a broker that already answered, it skips that broker (sendMessages.js,
    // responsePerBroker). Comparing every partition the partitioner picked with those acknowledged turns that
    // silent loss into a retry.
    const answered = new Set(acked);
    const missing = routed.filter((tp) => !answered.has(tp));
    if (missing.length > 0) {
      throw new SluiceError(
        'SLUICE_SINK_WRITE',
        `Kafka acknowledged ${answered.size} of ${routed.length} partitions (${missing.map((tp) => tp.replace('\u0000', '/')).join(', ')} not produced); resending the batch`,
      );
    }
  }

  /** A note per dead letter on dead_letter_topic, so someone downstream sees what the gateway parked. */
  private async noteDeadLetters(dead: readonly DeadLetter[]): Promise<void> {
    const topic = this.config.dead_letter_topic ?? '';
    const { gatewayId } = this.deps;
    const items: Item[] = dead.map(({ reading: r, error }) => {
      const note = {
        id: readingId(gatewayId, r.seq),
        gateway: gatewayId,
        seq: r.seq,
        device: r.device,
        metric: r.metric,
        source: r.source,
        ts: r.ts,
        error: { code: error.code, message: error.message },
      };
      const value = Buffer.from(JSON.stringify(note));
      const headers = {
        [HEADERS.gateway]: gatewayId,
        [HEADERS.seq]: String(r.seq),
        [HEADERS.source]: r.source,
        [HEADERS.contentType]: CONTENT_TYPES.json,
      };
      return { reading: r, topic, message: { key: r.device, value, headers }, bytes: value.length };
    });
    try {
      await this.send(items);
    } catch (err) {
      const c = classify(err);
      if (c.disposition !== 'reject') throw err;
      // The readings stay parked in the queue's dead letters either way; only the note is lost.
      this.deps.metrics.error('dead_letter_topic', c.kind);
      this.deps.log.error({ kind: c.kind, topic, count: dead.length }, 'Kafka refused the dead-letter notes');
    }
  }

  private fail(stage: 'connect' | 'write', err: unknown): SluiceError {
    if (err instanceof SluiceError) {
      this.deps.metrics.error(stage, err.code);
      return this.unhealthy(err);
    }
    const c: Classified = classify(err);
    this.deps.metrics.error(stage, c.kind);
    const what = `Kafka ${stage} failed (${c.kind}): ${c.message}`;
    let e: SluiceError;
    if (c.disposition === 'setup') {
      e = new SluiceError('SLUICE_AUTH', what, {
        hint: 'check the brokers, TLS files, SASL credentials and ACLs (Write on the topics; on Kafka < 3.0 also IdempotentWrite when idempotent)',
        cause: err,
      });
    } else if (c.disposition === 'reject') {
      // Refusals are isolated per message in write(); here only from connect or metadata, so retry.
      e = new SluiceError('SLUICE_SINK_WRITE', what, { cause: err });
    } else {
      const code = isUnreachable(c.kind, c.message) ? 'SLUICE_UPSTREAM_UNREACHABLE' : 'SLUICE_SINK_WRITE';
      e = new SluiceError(code, what, {
        cause: err,
        hint: 'readings stay queued and are resent',
      });
    }
    return this.unhealthy(e);
  }

  private unhealthy(e: SluiceError): SluiceError {
    const state = e.code === 'SLUICE_SINK_WRITE' ? 'degraded' : 'unhealthy';
    this.status = failedHealth(state, e, e.code, { lastSuccessAt: this.lastSuccessAt });
    return e;
  }
}

function rejected(reading: QueuedReading, message: string, kind: string): DeadLetter {
  return {
    reading,
    error: new SluiceError('SLUICE_SINK_REJECTED', `${kind}: ${message}`, {
      hint: 'inspect with `sluice queue dead-letters`; fix the reading, topic template or topic limits',
    }),
  };
}

function sum(items: readonly Item[]): number {
  let n = 0;
  for (const it of items) n += it.bytes;
  return n;
}

/** The items' messages grouped by topic, each topic's in item order: one KafkaJS sendBatch. */
function byTopic(items: readonly Item[]): TopicMessages[] {
  const topics = new Map<string, Message[]>();
  for (const it of items) {
    const list = topics.get(it.topic);
    if (list) list.push(it.message);
    else topics.set(it.topic, [it.message]);
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
}

/** Consecutive runs of items whose bytes stay within `max` (a bigger single item gets a run of its own). */
function* chunks(items: readonly Item[], max: number): Generator<Item[]> {
  let run: Item[] = [];
  let bytes = 0;
  for (const it of items) {
    if (run.length > 0 && bytes + it.bytes > max) {
      yield run;
      run = [];
      bytes = 0;
    }
    run.push(it);
    bytes += it.bytes;
  }
  if (run.length > 0) yield run;
}
