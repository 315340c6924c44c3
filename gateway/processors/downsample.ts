// `downsample`: at most one reading per device and metric per interval of reading time (`ts`), the first
// one. It passes or drops each reading as it comes and never holds one: on the source side what is
// acknowledged to the device is exactly what was stored, so nothing may wait in memory un-appended.
// (`last` and `max_abs` would have to hold a reading until its interval ends; see index.ts.)
import { z } from 'zod';
import type { Reading } from '../reading.js';
import { KeyedState, maxKeysOption } from './keyed-state.js';
import { Drop, processorCommon, type Processor, type ProcessorDefinition } from './types.js';

export const schema = z.strictObject({
  type: z.literal('downsample'),
  ...processorCommon,
  interval_ms: z
    .number()
    .int()
    .min(1)
    .describe('Interval length; intervals are aligned to the epoch (`floor(ts / interval_ms)`).'),
  mode: z
    .literal('first')
    .default('first')
    .describe(
      'Which reading of an interval passes: `first` (the others are dropped as `downsampled`). A reading older than the interval already passed is dropped too.',
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

export const downsample: ProcessorDefinition<typeof schema> = {
  type: 'downsample',
  description:
    'At most one reading per device and metric per interval of reading time: the first (the rest are dropped as `downsampled`).',
  schema,
  sides: ['source', 'sink'],
  create: (config) => new Downsample(config),
};
