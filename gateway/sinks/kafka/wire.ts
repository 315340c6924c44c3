// What the sink and its producer thread (worker.ts) say to each other, and how an error crosses between them:
// structured clone keeps only an Error's name and message, and classify.ts needs the rest (KafkaJS's type,
// code and retriable, @platformatic/kafka's apiId and apiCode and the errors it aggregates, the cause chain,
// SluiceError's code and hint), so errors travel as plain data.
import type { TopicMessages } from 'kafkajs';
import { SluiceError, type ErrorCode } from '../../errors.js';
import type { KafkaSinkConfig } from './schema.js';

/**
 * Retries inside one send, whichever the client: enough to ride out a leader change without rewinding the
 * queue; anything longer is the runner's backoff (one retry policy, from the config). An idempotent producer
 * needs >= 1.
 */
export const CLIENT_RETRIES = 2;

export interface WorkerData {
  readonly config: KafkaSinkConfig;
}

/** One KafkaJS sendBatch: acks, timeout and compression are fixed by the config the worker got. */
export interface SendRequest {
  readonly topicMessages: TopicMessages[];
}

/** Answered one at a time, in the order sent. */
export type Request =
  | { readonly id: number; readonly op: 'connect' }
  | { readonly id: number; readonly op: 'disconnect' }
  | ({ readonly id: number; readonly op: 'send' } & SendRequest);

/** What a send answered: the partitions Kafka acknowledged, and every partition the partitioner picked. */
export interface SendResult {
  readonly acked: readonly string[];
  readonly routed: readonly string[];
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result?: SendResult }
  | { readonly id: number; readonly ok: false; readonly error: WireError }
  | { readonly log: 'error' | 'warn' | 'info' | 'debug'; readonly fields: object; readonly message: string };

export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  /** KafkaJS protocol errors: the broker's error name and number. Node system errors: a string code. */
  readonly type?: string;
  readonly code?: string | number;
  readonly retriable?: boolean;
  readonly hint?: string;
  /** @platformatic/kafka protocol errors: the broker's error name and number. */
  readonly apiId?: string;
  readonly apiCode?: number;
  /** ... and the broker's own words ("invalid credentials"), when it sent some. */
  readonly serverErrorMessage?: string;
  readonly cause?: WireError;
  /** An AggregateError's errors (@platformatic/kafka's MultipleErrors: each retry, each broker). */
  readonly errors?: readonly WireError[];
}

/** Enough of an aggregate to classify it: the last attempts are the ones that matter. */
const MAX_AGGREGATED = 16;

/** `${topic}\0${partition}`: one string per partition, for sets. */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export function toWire(err: unknown, depth = 0): WireError {
  // Something thrown that is not an Error: classify labels it 'unknown', and so will the name.
  if (!(err instanceof Error)) return { name: 'unknown', message: String(err) };
  const e = err as Error & {
    type?: unknown;
    code?: unknown;
    retriable?: unknown;
    hint?: unknown;
    apiId?: unknown;
    apiCode?: unknown;
    serverErrorMessage?: unknown;
    errors?: unknown;
  };
  const out: { -readonly [K in keyof WireError]: WireError[K] } = { name: e.name, message: e.message };
  if (e.stack !== undefined) out.stack = e.stack;
  if (typeof e.type === 'string') out.type = e.type;
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  if (typeof e.retriable === 'boolean') out.retriable = e.retriable;
  if (typeof e.hint === 'string') out.hint = e.hint;
  if (typeof e.apiId === 'string') out.apiId = e.apiId;
  if (typeof e.apiCode === 'number') out.apiCode = e.apiCode;
  if (typeof e.serverErrorMessage === 'string') out.serverErrorMessage = e.serverErrorMessage;
  if (e.cause !== undefined && depth < 8) out.cause = toWire(e.cause, depth + 1);
  if (Array.isArray(e.errors) && depth < 8) {
    const errors: unknown[] = e.errors;
    out.errors = errors.slice(-MAX_AGGREGATED).map((x) => toWire(x, depth + 1));
  }
  return out;
}

/** The error again, with what classify.ts and the runner look at; a SluiceError comes back as one. */
export function fromWire(w: WireError): Error {
  const cause = w.cause === undefined ? undefined : fromWire(w.cause);
  let err: Error;
  if (w.name === 'SluiceError' && typeof w.code === 'string') {
    // The thread's error as it was thrown there: its flag and hint are facts carried over, not overrides.
    err = new SluiceError(w.code as ErrorCode, w.message, { retriable: w.retriable, hint: w.hint, cause });
  } else {
    err = new Error(w.message, cause === undefined ? undefined : { cause });
    err.name = w.name;
    const extra: {
      type?: string;
      code?: string | number;
      retriable?: boolean;
      apiId?: string;
      apiCode?: number;
      serverErrorMessage?: string;
      errors?: Error[];
    } = {};
    if (w.type !== undefined) extra.type = w.type;
    if (w.code !== undefined) extra.code = w.code;
    if (w.retriable !== undefined) extra.retriable = w.retriable;
    if (w.apiId !== undefined) extra.apiId = w.apiId;
    if (w.apiCode !== undefined) extra.apiCode = w.apiCode;
    if (w.serverErrorMessage !== undefined) extra.serverErrorMessage = w.serverErrorMessage;
    if (w.errors !== undefined) extra.errors = w.errors.map(fromWire);
    Object.assign(err, extra);
  }
  if (w.stack !== undefined) err.stack = w.stack;
  return err;
}
