// `simulator`: virtual sensors producing realistic readings (random walks, daily sine, counters, switches),
// like Vector's demo_logs. Feeds the demo and the benchmarks through the same durable ingest as real sources.
import { z } from 'zod';
import type {
  ComponentDefinition,
  ComponentDeps,
  ComponentHealth,
  Source,
  SourceContext,
} from '../components.js';
import { failedHealth } from '../components.js';
import { errorMessage, isSluiceError } from '../errors.js';
import type { Reading } from '../reading.js';

/** Most readings one tick may make (devices x metrics): a pushed config must not make millions at once. */
const MAX_READINGS_PER_TICK = 100_000;

const metricSchema = z.strictObject({
  name: z.string().min(1).max(64),
  unit: z.string().max(32).optional(),
  kind: z.enum(['walk', 'sine', 'counter', 'switch']).default('walk').describe('How the value evolves.'),
  min: z.number().default(0),
  max: z.number().default(100),
  step: z.number().positive().default(1).describe('Largest change per tick (walk), or increment (counter).'),
  period_ms: z.number().int().positive().default(86_400_000).describe('Period of a sine metric.'),
});

export const schema = z
  .strictObject({
    type: z.literal('simulator'),
    devices: z.number().int().min(1).max(100_000).default(3).describe('How many virtual devices.'),
    device_prefix: z
      .string()
      .max(64)
      .default('sim-')
      .describe('Start of every device id (copied into every reading, hence bounded).'),
    metrics: z
      .array(metricSchema)
      .min(1)
      .max(64)
      .default([
        { name: 'temperature', unit: 'C', kind: 'walk', min: 15, max: 30, step: 0.2, period_ms: 86_400_000 },
        { name: 'humidity', unit: '%', kind: 'walk', min: 30, max: 70, step: 0.5, period_ms: 86_400_000 },
        { name: 'pressure', unit: 'hPa', kind: 'sine', min: 1005, max: 1020, step: 1, period_ms: 86_400_000 },
      ]),
    interval_ms: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe('Time between ticks; each tick every device reports every metric.'),
    count: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .describe('Stop after this many readings (0: run forever).'),
    seed: z.number().int().default(1).describe('Seed of the pseudo-random generator, for repeatable runs.'),
  })
  .refine((c) => c.devices * c.metrics.length <= MAX_READINGS_PER_TICK, {
    message: `devices x metrics is the readings of one tick: at most ${MAX_READINGS_PER_TICK}`,
    path: ['devices'],
  })
  .describe('Virtual sensors for demos and benchmarks.');

export type SimulatorConfig = z.output<typeof schema>;

/** mulberry32: small, fast, seedable; enough for plausible sensor noise. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class SimulatorSource implements Source {
  readonly type = 'simulator';
  private readonly random: () => number;
  private readonly state: number[];
  private timer: NodeJS.Timeout | undefined;
  private produced = 0;
  private inflight: Promise<void> = Promise.resolve();
  private closed = false;
  private status: ComponentHealth = { state: 'starting' };

  constructor(
    readonly name: string,
    private readonly config: SimulatorConfig,
  ) {
    this.random = prng(config.seed);
    this.state = [];
    for (let d = 0; d < config.devices; d++) {
      for (const m of config.metrics) this.state.push(m.min + this.random() * (m.max - m.min));
    }
  }

  start(ctx: SourceContext): Promise<void> {
    const tick = (): void => {
      if (this.closed) return;
      this.inflight = this.tick(ctx).finally(() => {
        if (this.closed || this.done()) return;
        this.timer = setTimeout(tick, this.config.interval_ms);
      });
    };
    tick();
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.inflight;
    this.status = { state: 'stopped' };
  }

  health(): ComponentHealth {
    return this.status;
  }

  private done(): boolean {
    return this.config.count > 0 && this.produced >= this.config.count;
  }

  /** One tick: every device reports every metric, in one durable ingest (one group commit). */
  private async tick(ctx: SourceContext): Promise<void> {
    const readings = this.next(Date.now());
    if (readings.length === 0) return;
    ctx.metrics.received(readings.length, 0); // virtual sensors: no bytes on a wire
    try {
      await ctx.ingest(readings);
      this.produced += readings.length;
      this.status = { state: 'healthy', lastSuccessAt: Date.now() };
    } catch (err) {
      // Nothing to acknowledge to a virtual sensor: count the refusal (queue full, disk error) and move on.
      const code = isSluiceError(err) ? err.code : 'SLUICE_INTERNAL';
      ctx.metrics.error('ingest', code);
      ctx.metrics.discarded(readings.length, code === 'SLUICE_QUEUE_FULL' ? 'queue_full' : 'ingest_error');
      this.status = failedHealth('degraded', err);
      ctx.log.warn(
        { err: errorMessage(err), readings: readings.length },
        'simulated readings were not queued',
      );
    }
  }

  /** The next tick's readings (exposed for benchmarks that need readings without a timer). */
  next(now: number): Reading[] {
    const { devices, metrics, device_prefix: prefix, count } = this.config;
    const out: Reading[] = [];
    let i = 0;
    for (let d = 0; d < devices; d++) {
      for (const m of metrics) {
        if (count > 0 && this.produced + out.length >= count) return out;
        out.push({
          device: `${prefix}${d + 1}`,
          metric: m.name,
          value: this.advance(i++, m, now),
          ts: now,
          source: this.name,
          ...(m.unit ? { unit: m.unit } : {}),
        });
      }
    }
    return out;
  }

  private advance(i: number, m: SimulatorConfig['metrics'][number], now: number): number | boolean {
    const prev = this.state[i] ?? m.min;
    let v: number;
    switch (m.kind) {
      case 'walk':
        v = Math.min(m.max, Math.max(m.min, prev + (this.random() * 2 - 1) * m.step));
        break;
      case 'sine': {
        const mid = (m.max + m.min) / 2;
        const amp = (m.max - m.min) / 2;
        v =
          mid +
          amp * Math.sin((2 * Math.PI * (now % m.period_ms)) / m.period_ms) +
          (this.random() - 0.5) * m.step * 0.1;
        break;
      }
      case 'counter':
        v = prev + m.step;
        break;
      case 'switch':
        this.state[i] = this.random() < 0.05 ? 1 - Math.round(prev) : Math.round(prev);
        return this.state[i] === 1;
    }
    this.state[i] = v;
    return Math.round(v * 100) / 100;
  }
}

export const simulator: ComponentDefinition<typeof schema, Source> = {
  type: 'simulator',
  description: 'Virtual sensors producing realistic readings, for demos and benchmarks.',
  schema,
  create: (name: string, config: SimulatorConfig, _deps: ComponentDeps) => new SimulatorSource(name, config),
};
