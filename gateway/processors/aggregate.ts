// `aggregate` (sink side): tumbling windows of reading time per device and metric, emitted as one reading
// per window whose value holds the chosen functions, exactly once across crashes when deduplicated by id.
//
// Lateness is judged by when the queue accepted a reading (`appendedAt`, stored with it), never by when a
// batch happened to be read: a reading joins its window if it reached the gateway before window end +
// allowed_lateness_ms, else it is dropped as `late`. That rule depends on the queue alone, so a window
// rebuilt after a crash, or read in other batches, holds exactly the same inputs. A window closes when the
// gateway's clock (the latest arrival read, or the idle tick's wall clock minus idle_grace_ms) passes its
// deadline; a reading that arrives after it is late by the same rule.
//
// Emission order: a window's output carries the seq of its last input and `firstSeq`, the seq of its first
// (the ledger keeps the cursor below it until the sink commits). Seqs must reach the sink ascending (the
// file and HDFS sinks skip seqs they already hold), so a closed window waits until every open window's
// last input is above its own: windows of different devices close at different times, and the one that
// closes first is not always the one that ends first in the queue.
//
// Memory: open windows are bounded by devices x metrics x (1 + (window + lateness) / window); a reading
// further ahead of the gateway's clock than one window is dropped as `future`. max_open_windows caps it
// for a fleet of unknown size: beyond it the oldest window is emitted early (tag agg_closed) and its later
// readings are dropped as `evicted`.
import { z } from 'zod';
import type { QueuedReading, Reading } from '../reading.js';
import { PendingOutputs, Tombstones } from './held.js';
import {
  Drop,
  ProcessorError,
  processorCommon,
  type Processor,
  type ProcessorContext,
  type ProcessorDefinition,
} from './types.js';

export const AGGREGATE_FUNCTIONS = ['mean', 'min', 'max', 'sum', 'count', 'first', 'last', 'stddev'] as const;
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number];

export const schema = z.strictObject({
  type: z.literal('aggregate'),
  ...processorCommon,
  on_error: z
    .enum(['keep', 'drop'])
    .default('drop')
    .describe(
      'A reading whose value is not a finite number cannot join a window: it is counted (`not_numeric`) and dropped (`drop`, the default here: the sink takes windows) or passed on raw (`keep`), in queue order after the windows open before it.',
    ),
  window_ms: z
    .number()
    .int()
    .min(1)
    .max(86_400_000)
    .describe(
      'Window length in reading time (`ts`); windows are aligned to the epoch (`floor(ts / window_ms)`). An output reading has `ts` = window start.',
    ),
  functions: z
    .array(z.enum(AGGREGATE_FUNCTIONS))
    .min(1)
    .default(['mean', 'min', 'max', 'count'])
    .refine((fs) => new Set(fs).size === fs.length, 'each function once')
    .describe(
      'What each window reports, as fields of the output value (`{"mean": 21.4, "max": 23, "count": 60}`): `mean`, `min`, `max`, `sum`, `count`, `first` and `last` (by `ts`), `stddev` (sample; null below 2 readings).',
    ),
  allowed_lateness_ms: z
    .number()
    .int()
    .min(0)
    .max(86_400_000)
    .default(0)
    .describe(
      "How long after a window's end a reading of it may still reach the gateway (by the gateway's clock when the queue accepted it); a later one is dropped and counted as `late`.",
    ),
  idle_grace_ms: z
    .number()
    .int()
    .min(0)
    .max(3_600_000)
    .default(2000)
    .describe(
      'When no newer reading comes, the idle flush emits a window once end + allowed_lateness_ms + this has passed by the wall clock: the margin lets every reading that arrived in time be stored and read first.',
    ),
  max_open_windows: z
    .number()
    .int()
    .min(1)
    .max(10_000_000)
    .default(100_000)
    .describe(
      'Most windows held open; beyond it the oldest is emitted early (tagged `agg_closed: max_open_windows`) and its later readings are dropped as `evicted`.',
    ),
});
type AggregateConfig = z.output<typeof schema>;

interface Window {
  readonly key: string;
  readonly device: string;
  readonly metric: string;
  readonly start: number;
  readonly deadline: number;
  readonly minSeq: number;
  maxSeq: number;
  count: number;
  sum: number;
  mean: number;
  /** Sum of squared deviations (Welford), for stddev. */
  m2: number;
  min: number;
  max: number;
  first: number;
  firstTs: number;
  last: number;
  lastTs: number;
  readonly unit: string | undefined;
  readonly tags: Readonly<Record<string, string>> | undefined;
  readonly source: string;
}

/** An output of a window: the ledger keeps the cursor below `firstSeq` until the sink commits it. */
export type WindowReading = QueuedReading & { readonly id: string; readonly firstSeq: number };

class Aggregate implements Processor {
  /** Open windows by key, in creation order: the first has the lowest first input seq. */
  private readonly open = new Map<string, Window>();
  /** The same windows in the order they last took a reading: the first has the lowest last input seq. */
  private readonly byUpdate = new Map<string, Window>();
  /** Keys of open windows by deadline (few distinct deadlines: windows are aligned). */
  private readonly byDeadline = new Map<number, Set<string>>();
  private minDeadline = Number.POSITIVE_INFINITY;
  /** Closed windows, and readings kept raw after an error, waiting for their turn. */
  private readonly pending = new PendingOutputs();
  /** Keys of windows closed early (evicted) whose deadline has not passed: their readings are not taken. */
  private readonly tombstones = new Tombstones();
  /** The gateway's clock as far as the stream says: the latest arrival read, or the idle tick's. */
  private clock = 0;
  private readonly fields: readonly AggregateFunction[];

  constructor(
    private readonly config: AggregateConfig,
    private readonly ctx: ProcessorContext,
  ) {
    this.fields = config.functions;
  }

  process<R extends Reading>(r: R, now: number): R | Drop {
    // Sink side only (sides below): every input is a queue entry with its seq.
    const q = r as unknown as QueuedReading;
    const arrived = q.appendedAt ?? now;
    this.advance(arrived);
    const v = r.value;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ProcessorError(
        'not_numeric',
        `${r.device}/${r.metric}: value ${JSON.stringify(v)} is not a finite number; aggregate takes numbers (put a filter before it)`,
      );
    }
    const { window_ms: size, allowed_lateness_ms: lateness } = this.config;
    const start = Math.floor(r.ts / size) * size;
    const deadline = start + size + lateness;
    if (this.clock >= deadline) return Drop.of('late');
    if (r.ts >= arrived + size) return Drop.of('future');
    const key = `${r.device}\u0000${r.metric}\u0000${start}`;
    if (this.tombstones.has(key)) return Drop.of('evicted');
    let w = this.open.get(key);
    if (!w) {
      if (this.open.size >= this.config.max_open_windows) this.evictOldest();
      w = this.openWindow(key, r, q.seq, start, deadline);
    }
    add(w, v, r.ts);
    w.maxSeq = q.seq;
    this.byUpdate.delete(key);
    this.byUpdate.set(key, w);
    this.release();
    return Drop.of('held');
  }

  keep<R extends Reading>(r: R): R | Drop {
    const q = r as unknown as QueuedReading;
    this.pending.add(q.seq, q.seq, q);
    this.release();
    return Drop.of('held');
  }

  tick(now: number): void {
    this.advance(now - this.config.idle_grace_ms);
  }

  drain(): readonly QueuedReading[] {
    return this.pending.drain();
  }

  heldFrom(): number | undefined {
    return this.pending.heldFrom(this.open.values().next().value?.minSeq);
  }

  reset(): void {
    this.open.clear();
    this.byUpdate.clear();
    this.byDeadline.clear();
    this.minDeadline = Number.POSITIVE_INFINITY;
    this.pending.reset();
    this.tombstones.clear();
    this.clock = 0;
  }

  resume(committedThrough: number): void {
    this.pending.resume(committedThrough);
  }

  private openWindow(key: string, r: Reading, seq: number, start: number, deadline: number): Window {
    const w: Window = {
      key,
      device: r.device,
      metric: r.metric,
      start,
      deadline,
      minSeq: seq,
      maxSeq: seq,
      count: 0,
      sum: 0,
      mean: 0,
      m2: 0,
      min: Number.POSITIVE_INFINITY,
      max: Number.NEGATIVE_INFINITY,
      first: 0,
      firstTs: Number.POSITIVE_INFINITY,
      last: 0,
      lastTs: Number.NEGATIVE_INFINITY,
      unit: r.unit,
      tags: r.tags,
      source: r.source,
    };
    this.open.set(key, w);
    let keys = this.byDeadline.get(deadline);
    if (!keys) this.byDeadline.set(deadline, (keys = new Set()));
    keys.add(key);
    if (deadline < this.minDeadline) this.minDeadline = deadline;
    return w;
  }

  /** Moves the clock to `t` (never back) and closes every window whose deadline it reached. */
  private advance(t: number): void {
    if (t <= this.clock) return;
    this.clock = t;
    this.tombstones.expire(t);
    if (t < this.minDeadline) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [deadline, keys] of this.byDeadline) {
      if (deadline > t) {
        next = Math.min(next, deadline);
        continue;
      }
      for (const key of keys) {
        const w = this.open.get(key);
        if (w) this.close(w, undefined);
      }
      this.byDeadline.delete(deadline);
    }
    this.minDeadline = next;
    this.release();
  }

  private evictOldest(): void {
    const w = this.open.values().next().value;
    if (!w) return;
    this.tombstones.add(w.key, w.deadline);
    this.close(w, 'max_open_windows');
    this.byDeadline.get(w.deadline)?.delete(w.key);
  }

  private close(w: Window, early: string | undefined): void {
    this.open.delete(w.key);
    this.byUpdate.delete(w.key);
    const tags: Record<string, string> = { ...w.tags, agg_window_ms: String(this.config.window_ms) };
    if (early !== undefined) tags['agg_closed'] = early;
    const reading: WindowReading = {
      id: windowId(this.ctx, w),
      device: w.device,
      metric: w.metric,
      value: this.value(w),
      ...(w.unit === undefined ? {} : { unit: w.unit }),
      tags,
      ts: w.start,
      source: w.source,
      seq: w.maxSeq,
      firstSeq: w.minSeq,
    };
    this.pending.add(w.maxSeq, w.minSeq, reading);
  }

  /**
   * Hands on, in seq order, every pending output no open window can end below. One committed before a
   * crash is rebuilt (maybe without inputs acked since) and not sent again.
   */
  private release(): void {
    this.pending.release(this.byUpdate.values().next().value?.maxSeq ?? Number.POSITIVE_INFINITY);
  }

  private value(w: Window): Record<string, number | null> {
    const v: Record<string, number | null> = {};
    for (const f of this.fields) {
      switch (f) {
        case 'mean':
          v[f] = w.mean;
          break;
        case 'min':
          v[f] = w.min;
          break;
        case 'max':
          v[f] = w.max;
          break;
        case 'sum':
          v[f] = w.sum;
          break;
        case 'count':
          v[f] = w.count;
          break;
        case 'first':
          v[f] = w.first;
          break;
        case 'last':
          v[f] = w.last;
          break;
        case 'stddev':
          v[f] = w.count > 1 ? Math.sqrt(w.m2 / (w.count - 1)) : null;
          break;
      }
    }
    return v;
  }
}

/** Adds one value, in queue order (so the floating-point sums are the same for any batching). */
function add(w: Window, v: number, ts: number): void {
  w.count++;
  w.sum += v;
  const delta = v - w.mean;
  w.mean += delta / w.count;
  w.m2 += delta * (v - w.mean);
  if (v < w.min) w.min = v;
  if (v > w.max) w.max = v;
  // Ties in ts: first keeps the earliest in the queue, last the latest.
  if (ts < w.firstTs) {
    w.first = v;
    w.firstTs = ts;
  }
  if (ts >= w.lastTs) {
    w.last = v;
    w.lastTs = ts;
  }
}

/**
 * The output's id: the same for the same window whatever the run, so that dedup by id downstream turns a
 * window sent again after a crash into one. Device and metric are URI-encoded (they may hold `:`).
 */
export function windowId(
  ctx: Pick<ProcessorContext, 'gatewayId' | 'component'>,
  w: { readonly device: string; readonly metric: string; readonly start: number },
): string {
  return `${ctx.gatewayId}:${ctx.component}:${encodeURIComponent(w.device)}:${encodeURIComponent(w.metric)}:${w.start}`;
}

export const aggregate: ProcessorDefinition<typeof schema> = {
  type: 'aggregate',
  description:
    'Sink side: tumbling windows of reading time per device and metric, one output reading per window (value: the chosen functions), exactly once across crashes by its stable id.',
  schema,
  sides: ['sink'],
  create: (config, ctx) => new Aggregate(config, ctx),
};
