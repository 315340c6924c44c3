// `downsample`: at most one reading per device and metric per interval of reading time (`ts`). `first`
// passes or drops each reading as it comes and never holds one, so it runs on either side. `last` and
// `max_abs` must hold a reading until its interval ends: sink side only (downsample-select.ts), because
// at the source a held reading would be acknowledged to the device before it is stored.
import { z } from 'zod';
import type { Reading } from '../reading.js';
import { KeyedState, maxKeysOption } from './keyed-state.js';
import { SluiceError } from '../errors.js';
import { DownsampleSelect } from './downsample-select.js';
import {
  Drop,
  processorCommon,
  type Processor,
  type ProcessorDefinition,
  type ProcessorSide,
} from './types.js';

export const schema = z.strictObject({
  type: z.literal('downsample'),
  ...processorCommon,
  interval_ms: z
    .number()
    .int()
    .min(1)
    .describe('Interval length; intervals are aligned to the epoch (`floor(ts / interval_ms)`).'),
  mode: z
    .enum(['first', 'last', 'max_abs'])
    .default('first')
    .describe(
      'Which reading of an interval passes, as stored (same seq and id); the others are dropped as `downsampled`. `first`: passed at once; a reading older than the interval already passed is dropped too. `last` (latest `ts`) and `max_abs` (largest absolute value; a non-number is a `not_numeric` error): sink side only, passed when the interval closes (its end + `allowed_lateness_ms` by queue arrival time, or the idle flush); a reading arriving later is dropped as `late`.',
    ),
  allowed_lateness_ms: z
    .number()
    .int()
    .min(0)
    .max(86_400_000)
    .default(0)
    .describe(
      "`last`/`max_abs`: how long after an interval's end a reading of it may still reach the gateway (when the queue accepted it); a later one is dropped as `late`.",
    ),
  idle_grace_ms: z
    .number()
    .int()
    .min(0)
    .max(3_600_000)
    .default(2000)
    .describe(
      '`last`/`max_abs`: when no newer reading comes, an interval closes once its end + allowed_lateness_ms + this has passed by the wall clock.',
    ),
  metrics: z
    .array(z.string().min(1))
    .optional()
    .describe('Only readings of these metrics (exact names); others pass untouched.'),
  max_keys: maxKeysOption,
});

class Downsample implements Processor {
  private readonly state: KeyedState<number>;
  private readonly only: ReadonlySet<string> | undefined;

  constructor(private readonly config: z.output<typeof schema>) {
    this.state = new KeyedState(config.max_keys);
    this.only = config.metrics && new Set(config.metrics);
  }

  process<R extends Reading>(r: R): R | Drop {
    if (this.only && !this.only.has(r.metric)) return r;
    const interval = Math.floor(r.ts / this.config.interval_ms);
    const passed = this.state.get(r.device, r.metric);
    if (passed !== undefined && interval <= passed) return Drop.of('downsampled');
    this.state.set(r.device, r.metric, interval);
    return r;
  }

  reset(): void {
    this.state.clear();
  }
}

/** Why `config` cannot run on `side`, if it cannot. */
function misplaced(config: z.output<typeof schema>, side: ProcessorSide): string | undefined {
  if (side === 'source' && config.mode !== 'first')
    return `downsample mode ${config.mode} runs only on the sink side: it holds a reading until its interval ends, and at the source the device would be acknowledged before the reading is stored; use mode first here, or move this processor to a sink's processors`;
  return undefined;
}

export const downsample: ProcessorDefinition<typeof schema> = {
  type: 'downsample',
  description:
    'At most one reading per device and metric per interval of reading time: the first (either side), or the last or largest in absolute value (sink side); the rest are dropped as `downsampled`.',
  schema,
  sides: ['source', 'sink'],
  misplaced,
  create: (config, ctx) => {
    if (config.mode === 'first') return new Downsample(config);
    const why = misplaced(config, ctx.side);
    // The config schema refused it already; only a config that skipped validation gets here.
    if (why !== undefined) throw new SluiceError('SLUICE_CONFIG_INVALID', why);
    return new DownsampleSelect({
      mode: config.mode,
      intervalMs: config.interval_ms,
      latenessMs: config.allowed_lateness_ms,
      idleGraceMs: config.idle_grace_ms,
      maxOpen: config.max_keys,
      only: config.metrics && new Set(config.metrics),
    });
  },
};
