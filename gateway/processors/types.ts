// The contract every processor follows: one reading in, that reading (changed or not) or a Drop out, and
// the per-processor metrics the chain keeps. Processors know nothing of sources, sinks or the queue.
import { z } from 'zod';
import type { QueuedReading, Reading } from '../reading.js';

/** Where a chain runs: before the durable append of a source, or at read time for one sink. */
export type ProcessorSide = 'source' | 'sink';

/** Why a reading was dropped: a stable reason, a metric label (`filtered`, `in_band`, `downsampled`). */
export class Drop {
  private static readonly byReason = new Map<string, Drop>();
  private constructor(readonly reason: string) {}
  /** One shared instance per reason: dropping allocates nothing on the hot path. */
  static of(reason: string): Drop {
    let d = Drop.byReason.get(reason);
    if (!d) {
      d = new Drop(reason);
      Drop.byReason.set(reason, d);
    }
    return d;
  }
}

/**
 * A reading a processor cannot handle (a CEL type error, a string reaching `scale`): the chain counts it
 * under `reason` for this processor and keeps or drops the reading as the processor's `on_error` says.
 * Never an exception that leaves the chain.
 */
export class ProcessorError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProcessorError';
  }
}

/**
 * One processor of a chain. `process` is called once per reading, in queue order, on the event loop; it
 * returns the reading to pass on (a new object when it changes anything: readings are shared with the
 * caller), or a Drop. On the sink side `R` carries the queue's `seq`: a processor copies the input with
 * `changed(r, { unit })`, so the sequence (and so the reading's id) is kept.
 */
export interface Processor {
  process<R extends Reading>(r: R, now: number): R | Drop;
  /**
   * Forgets held state (deadband's last values, downsample's intervals): a sink's runner calls it when it
   * rewinds to its durable cursor after a failure, so that the replayed readings are judged as after a
   * restart, never against state that already holds them.
   */
  reset?(): void;
  /**
   * Sink side only, for a processor that holds readings across batches (a window): the lowest queue seq of
   * an input it still holds, which the sink's cursor must never be acked at or past (see index.ts).
   */
  heldFrom?(): number | undefined;
  /**
   * Sink side, for a processor that emits readings of its own (closed windows): what it emitted since the
   * last call, in queue order, each with a `seq` and an `id`; the chain passes them on to the processors
   * after it. Called after every `process`, `keep` and `tick`.
   */
  drain?(): readonly QueuedReading[];
  /** Sink side: the sink is idle at wall-clock `now`; close what is due by the clock alone (idle flush). */
  tick?(now: number): void;
  /**
   * A reading the chain keeps after this processor failed on it (`on_error: keep`): a processor that
   * orders its output takes it back to pass it on in queue order (else it would overtake held windows).
   */
  keep?<R extends Reading>(r: R): R | Drop;
  /**
   * The highest seq the sink is known to have committed (persisted by the runner across restarts): an
   * output at or below it was delivered before, and a window rebuilt from a partly acked queue must not
   * be sent again with fewer inputs.
   */
  resume?(committedThrough: number): void;
}

/**
 * A copy of `r` (every field, `seq` included) with `fields` changed. Not `{ ...r, value }`: on Node 20 a
 * spread copy takes the input's hidden class, and writing a field of another representation into it (a
 * double `value` over an integer one, as `scale` does) migrates the object on every reading: 0.87 us per
 * copy against 0.12 us for Object.assign (test/bench/processors.mjs measures the chain).
 */
export function changed<R extends Reading>(r: R, fields: Partial<Reading>): R {
  return Object.assign({}, r, fields);
}

/** What a processor's factory is given besides its own config. */
export interface ProcessorContext {
  readonly side: ProcessorSide;
  /** The source or sink the chain belongs to. */
  readonly component: string;
  readonly gatewayId: string;
  /** This gateway's fleet labels (`fleet.labels`), for `enrich`. */
  readonly fleetLabels: readonly string[];
}

/** A registry entry: one per processor module, listed in gateway/processors/index.ts. */
export interface ProcessorDefinition<Schema extends z.ZodType> {
  readonly type: string;
  readonly description: string;
  /** `type: z.literal(<type>)` plus the processor's options, with `...processorCommon` merged in. */
  readonly schema: Schema;
  /** The sides it may run on; a config placing it elsewhere is refused (cross-checks in config/schema.ts). */
  readonly sides: readonly ProcessorSide[];
  /** Why this config cannot run on `side` although the type can (a mode that holds readings), if so. */
  readonly misplaced?: (config: z.infer<Schema>, side: ProcessorSide) => string | undefined;
  readonly create: (config: z.infer<Schema>, ctx: ProcessorContext) => Processor;
}

/** Options every processor has, merged into each processor's schema. */
export const processorCommon = {
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, `_`, `.`, `-` (max 64)')
    .optional()
    .describe(
      'Names the processor in metrics, `sluice top` and the status page; default `<position>-<type>` (`1-filter`).',
    ),
  on_error: z
    .enum(['keep', 'drop'])
    .default('keep')
    .describe(
      'A reading this processor cannot handle (a CEL type error, a string reaching `scale`) is counted by reason and then passed on unchanged (`keep`) or dropped (`drop`).',
    ),
};

/** The per-processor counters (observe/metrics.ts implements them; the chain calls them). */
export interface ProcessorMetrics {
  /** Readings handed to this processor. */
  in(events: number): void;
  /** Readings it passed on. */
  out(events: number): void;
  /** Readings it dropped, by reason (`filtered`, `in_band`, `downsampled`, `error`). */
  dropped(events: number, reason: string): void;
  /** Readings it could not handle, by reason (`eval_error`, `not_numeric`, ...), whatever on_error did. */
  error(reason: string): void;
}

export const noProcessorMetrics: ProcessorMetrics = {
  in: () => undefined,
  out: () => undefined,
  dropped: () => undefined,
  error: () => undefined,
};
