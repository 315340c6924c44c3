// An ordered list of processors run over readings, as a source's (before the durable append) or a sink's
// (at read time from the queue): counts in, out and dropped by reason per processor, and turns a
// processor's error into a counted keep or drop, so that bad input never crashes or stalls the pipeline.
import { SluiceError, errorMessage } from '../errors.js';
import type { Reading } from '../reading.js';
import { processors as registry, type ProcessorConfig } from './index.js';
import {
  Drop,
  ProcessorError,
  type Processor,
  type ProcessorContext,
  type ProcessorMetrics,
} from './types.js';

/** Gives the metrics of one processor of a chain: its label (`1-filter` or its `name`) and type. */
export type ProcessorMetricsFor = (label: string, type: string) => ProcessorMetrics;

/** Told (rate-limited by the caller) when a processor fails on a reading. */
export type ProcessorErrorLog = (label: string, reason: string, detail: string) => void;

interface Stage {
  readonly label: string;
  readonly type: string;
  readonly processor: Processor;
  readonly dropOnError: boolean;
  readonly metrics: ProcessorMetrics;
  // Counted per run and handed to the metrics once per run (one call per batch, not per reading).
  in: number;
  out: number;
  readonly dropped: Map<string, number>;
}

/** The label a processor is known by: its `name`, or its 1-based position and type. */
export function processorLabel(config: ProcessorConfig, index: number): string {
  return config.name ?? `${index + 1}-${config.type}`;
}

export class ProcessorChain {
  private constructor(
    private readonly stages: readonly Stage[],
    private readonly onError: ProcessorErrorLog,
  ) {}

  /**
   * Builds every processor of `configs` once (a filter's expression is compiled here, not per reading).
   * A config that passed the schema builds; a factory that throws anyway is a config error of the caller.
   */
  static build(
    configs: readonly ProcessorConfig[],
    ctx: ProcessorContext,
    metricsFor: ProcessorMetricsFor,
    onError: ProcessorErrorLog = () => undefined,
  ): ProcessorChain {
    const stages = configs.map((config, index): Stage => {
      const def = registry.find((d) => d.type === config.type);
      if (!def) throw new SluiceError('SLUICE_CONFIG_INVALID', `unknown processor type ${config.type}`);
      // The registry entry matching config.type takes exactly this config; TypeScript cannot narrow a
      // union of definitions by the `type` it was found with (as in runtime/gateway.ts).
      const create = def.create as (c: ProcessorConfig, x: ProcessorContext) => Processor;
      const label = processorLabel(config, index);
      return {
        label,
        type: config.type,
        processor: create(config, ctx),
        dropOnError: config.on_error === 'drop',
        metrics: metricsFor(label, config.type),
        in: 0,
        out: 0,
        dropped: new Map(),
      };
    });
    return new ProcessorChain(stages, onError);
  }

  get length(): number {
    return this.stages.length;
  }

  /** The readings that pass every processor, in order; `dropped` is how many did not. */
  run<R extends Reading>(readings: readonly R[], now = Date.now()): { kept: R[]; dropped: number } {
    const kept: R[] = [];
    for (const input of readings) this.pass(input, 0, now, kept);
    this.report();
    // Emitted readings (closed windows) are kept without an input of their own: count inputs not kept.
    return { kept, dropped: Math.max(0, readings.length - kept.length) };
  }

  /**
   * The idle flush: every processor that closes state by the clock (`aggregate`) is ticked, and what it
   * emits runs through the processors after it. Empty for a chain without such a processor.
   */
  tick<R extends Reading>(now = Date.now()): R[] {
    const kept: R[] = [];
    this.stages.forEach((stage, i) => {
      if (!stage.processor.tick) return;
      stage.processor.tick(now);
      this.drained<R>(stage, i, now, kept);
    });
    this.report();
    return kept;
  }

  /** True when a processor holds readings across batches (the runner then keeps its resume point). */
  get holdsState(): boolean {
    return this.stages.some((s) => s.processor.heldFrom !== undefined);
  }

  /** Tells every processor the highest seq the sink committed (see Processor.resume). */
  resume(committedThrough: number): void {
    for (const s of this.stages) s.processor.resume?.(committedThrough);
  }

  /** Runs `input` through the stages from `from` on, appending what passes them all to `kept`. */
  private pass<R extends Reading>(input: R, from: number, now: number, kept: R[]): void {
    let r: R = input;
    for (let i = from; i < this.stages.length; i++) {
      const stage = this.stages[i] as Stage;
      stage.in++;
      const out: R | Drop = this.step(stage, r, now);
      if (stage.processor.drain) this.drained<R>(stage, i, now, kept);
      if (out instanceof Drop) {
        stage.dropped.set(out.reason, (stage.dropped.get(out.reason) ?? 0) + 1);
        return;
      }
      stage.out++;
      r = out;
    }
    kept.push(r);
  }

  /** What stage `i` emitted, on through the stages after it. */
  private drained<R extends Reading>(stage: Stage, i: number, now: number, kept: R[]): void {
    const emitted = stage.processor.drain?.() ?? [];
    for (const e of emitted) {
      stage.out++;
      // Emitting processors run on the sink side only, where R is QueuedReading (sides: ['sink']).
      this.pass(e as unknown as R, i + 1, now, kept);
    }
  }

  /** Forgets every processor's state (a sink rewound to its durable cursor). */
  reset(): void {
    for (const s of this.stages) s.processor.reset?.();
  }

  /** The lowest queue seq any processor still holds, if one holds any (see Processor.heldFrom). */
  heldFrom(): number | undefined {
    let min: number | undefined;
    for (const s of this.stages) {
      const h = s.processor.heldFrom?.();
      if (h !== undefined && (min === undefined || h < min)) min = h;
    }
    return min;
  }

  private step<R extends Reading>(stage: Stage, r: R, now: number): R | Drop {
    try {
      return stage.processor.process(r, now);
    } catch (err) {
      // A ProcessorError is bad input; anything else is a processor bug, still never a crash or a stall.
      const reason = err instanceof ProcessorError ? err.reason : 'internal';
      stage.metrics.error(reason);
      this.onError(stage.label, reason, errorMessage(err));
      if (stage.dropOnError) return Drop.of('error');
      return stage.processor.keep ? stage.processor.keep(r) : r;
    }
  }

  private report(): void {
    for (const s of this.stages) {
      if (s.in > 0) s.metrics.in(s.in);
      if (s.out > 0) s.metrics.out(s.out);
      for (const [reason, n] of s.dropped) s.metrics.dropped(n, reason);
      s.in = 0;
      s.out = 0;
      s.dropped.clear();
    }
  }
}
