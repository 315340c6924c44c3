// The small lifecycle every source and sink follows (Redpanda Connect's Connect/WriteBatch/Close, Vector's
// build + healthcheck), and the registry entry shape each component module exports.
import type { Logger } from 'pino';
import type { z } from 'zod';
import { isSluiceError, type ErrorCode, type SluiceError } from './errors.js';
import type { ComponentMetrics } from './metrics-spec.js';
import type { QueuedReading, Reading } from './reading.js';

export type HealthState = 'starting' | 'healthy' | 'degraded' | 'unhealthy' | 'stopped';

export interface ComponentHealth {
  readonly state: HealthState;
  /** Short human-readable explanation of the state, e.g. "broker 127.0.0.1:9092 unreachable". */
  readonly detail?: string;
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: number };
  /** Epoch ms of the last successful unit of work (a batch acknowledged upstream, a frame read). */
  readonly lastSuccessAt?: number;
}

/**
 * The health of a component whose last unit of work failed with `err`: the error's code (or `code` for
 * errors that are not SluiceErrors) and message, stamped now. `extra` keeps e.g. `lastSuccessAt`.
 */
export function failedHealth(
  state: 'degraded' | 'unhealthy',
  err: unknown,
  code: ErrorCode = 'SLUICE_INTERNAL',
  extra: Partial<ComponentHealth> = {},
): ComponentHealth {
  const message = err instanceof Error ? err.message : String(err);
  return {
    ...extra,
    state,
    detail: message,
    lastError: { code: isSluiceError(err) ? err.code : code, message, at: Date.now() },
  };
}

/** What an append returned: the sequence numbers assigned, in order. */
export interface IngestResult {
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Encoded bytes the readings take in the queue. */
  readonly bytes: number;
}

export interface AppendOptions {
  /**
   * The caller gathered everything of this event-loop turn into this append (as the MQTT broker does): an
   * inline commit starts right after the current task instead of waiting for the end of the turn.
   */
  readonly gathered?: boolean;
  /**
   * A source's own durable state (the SQL source's last imported row), written in the same LMDB transaction
   * as these readings: after a crash either both are on disk or neither. With it, `readings` may be empty
   * (rows that gave no reading still move the state on).
   */
  readonly sourceState?: SourceState;
}

/** One key of a source's durable state; `value` is stored as given (plain data: strings, numbers, objects). */
export interface SourceState {
  readonly key: string;
  readonly value: unknown;
}

export interface SourceContext {
  readonly gatewayId: string;
  readonly log: Logger;
  readonly metrics: ComponentMetrics;
  /**
   * Appends readings to the durable queue; resolves only once they are on disk (group-committed with
   * other concurrent ingests). Rejects with SLUICE_QUEUE_FULL (retriable) under `on_full: reject_new`:
   * the source must then withhold its acknowledgement (MQTT PUBACK) or report it (serial).
   */
  ingest(readings: readonly Reading[], options?: AppendOptions): Promise<IngestResult>;
  /** Counts a rejected input (bad payload, bad frame) under a stable reason, per device where known. */
  reject(reason: string, device?: string, detail?: string): void;
  /**
   * The source's durable state under `key` as last committed with `ingest(..., { sourceState })`, or
   * undefined. Keys are the source's own (the gateway keeps each source's apart). Absent where no durable
   * queue stands behind the context (some test harnesses).
   */
  readState?(key: string): unknown;
}

export interface Source {
  readonly type: string;
  readonly name: string;
  start(ctx: SourceContext): Promise<void>;
  /** Stops accepting input and resolves when every in-flight ingest has settled. */
  close(): Promise<void>;
  health(): ComponentHealth;
}

/** A reading an upstream refused for good (too large, not authorized): parked, not retried, not lost. */
export interface DeadLetter {
  readonly reading: QueuedReading;
  readonly error: SluiceError;
}

/**
 * What a sink reports after a write or flush. `committedThrough` is the highest sequence number for which
 * this sink and everything before it is durably upstream; the runner acks the queue up to it. Sinks that
 * hold data in an open file (file, HDFS) report progress only when the file is final.
 */
export interface SinkProgress {
  readonly committedThrough?: number;
  readonly deadLetters?: readonly DeadLetter[];
  /**
   * Bytes made durable upstream with this progress, as the upstream stores them (file bytes, Kafka message
   * bytes). The runner counts them with the events when it acks: a sink never counts its own output.
   */
  readonly bytes?: number;
}

/** What a component's factory is given besides its own config. */
export interface ComponentDeps {
  readonly gatewayId: string;
  readonly dataDir: string;
  readonly log: Logger;
  readonly metrics: ComponentMetrics;
}

export interface Sink {
  readonly type: string;
  readonly name: string;
  /** Opens connections and recovers leftovers (e.g. in-progress files); may be retried by the runner. */
  connect(): Promise<void>;
  /**
   * Sends a batch of readings, in sequence order. Throwing means nothing of this batch (nor anything held
   * uncommitted from earlier batches) counts as delivered: the runner rewinds to the last committed
   * sequence and feeds it again, so the sink must drop any uncommitted state before throwing.
   */
  write(batch: readonly QueuedReading[]): Promise<SinkProgress>;
  /** Commits whatever is held (close the open file, ...) when the runner is idle or shutting down. */
  flush(reason: 'idle' | 'shutdown'): Promise<SinkProgress>;
  close(): Promise<void>;
  health(): ComponentHealth;
}

/** A registry entry: one per component module, listed in gateway/sources/index.ts or gateway/sinks/index.ts. */
export interface ComponentDefinition<Schema extends z.ZodType, Instance> {
  readonly type: string;
  readonly description: string;
  /** Zod schema of the component's config, with `type: z.literal(<type>)`; the single source of truth. */
  readonly schema: Schema;
  /** Builds an instance; may first import the implementation (see `lazyComponent`). */
  readonly create: (
    name: string,
    config: z.infer<Schema>,
    deps: ComponentDeps,
  ) => Instance | Promise<Instance>;
}

/**
 * A registry entry whose implementation (and the libraries it pulls in: KafkaJS, the SQL drivers, serialport,
 * aedes, the Parquet and Avro writers) is imported only when a config first creates one: the schema, which
 * every config validation needs, stays eager. A component type the config does not use then costs no memory
 * (measured with test/bench/memory.mjs). `load` returns the component's own registry entry, which must have
 * the same type and schema (checked by test/config/registry.test.ts).
 */
export function lazyComponent<Schema extends z.ZodType, Instance>(
  type: string,
  description: string,
  schema: Schema,
  load: () => Promise<ComponentDefinition<Schema, Instance>>,
): ComponentDefinition<Schema, Instance> {
  return {
    type,
    description,
    schema,
    create: async (name, config, deps) => (await load()).create(name, config, deps),
  };
}
