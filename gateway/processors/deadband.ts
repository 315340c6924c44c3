// `deadband`: report by exception per device and metric. A numeric reading passes when it leaves the band
// around the last value passed (absolute, or percent of that value), or when `max_silence_ms` of reading
// time went by since that one (a heartbeat); other values pass when they change. State is in memory:
// the first reading of a series after a restart (or a sink's rewind) always passes.
import { z } from 'zod';
import type { Reading } from '../reading.js';
import { KeyedState, maxKeysOption } from './keyed-state.js';
import { Drop, processorCommon, type Processor, type ProcessorDefinition } from './types.js';

export const schema = z
  .strictObject({
    type: z.literal('deadband'),
    ...processorCommon,
    band: z
      .number()
      .finite()
      .min(0)
      .optional()
      .describe('Absolute band: a value passes when |value - last passed| > band.'),
    percent: z
      .number()
      .finite()
      .min(0)
      .optional()
      .describe(
        'Relative band: passes when |value - last| > percent/100 * |last| (any change when last is 0).',
      ),
    max_silence_ms: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        'Heartbeat: a reading passes anyway when this much reading time (`ts`) went by since the last one passed.',
      ),
    metrics: z
      .array(z.string().min(1))
      .optional()
      .describe('Only readings of these metrics (exact names); others pass untouched.'),
    max_keys: maxKeysOption,
  })
  .refine((c) => (c.band === undefined) !== (c.percent === undefined), {
    message: 'deadband needs exactly one of `band` (absolute) and `percent`',
  });

/** The last value passed of a series; updated in place, so that a passing reading allocates nothing. */
interface Last {
  value: Reading['value'];
  ts: number;
}

class Deadband implements Processor {
  private readonly state: KeyedState<Last>;
  private readonly only: ReadonlySet<string> | undefined;

  constructor(private readonly config: z.output<typeof schema>) {
    this.state = new KeyedState(config.max_keys);
    this.only = config.metrics && new Set(config.metrics);
  }

  process<R extends Reading>(r: R): R | Drop {
    if (this.only && !this.only.has(r.metric)) return r;
    const last = this.state.get(r.device, r.metric);
    if (last === undefined) {
      this.state.set(r.device, r.metric, { value: r.value, ts: r.ts });
      return r;
    }
    if (this.outside(last.value, r.value) || this.heartbeat(last.ts, r.ts)) {
      last.value = r.value;
      last.ts = r.ts;
      this.state.set(r.device, r.metric, last);
      return r;
    }
    return Drop.of('in_band');
  }

  reset(): void {
    this.state.clear();
  }

  private heartbeat(lastTs: number, ts: number): boolean {
    const max = this.config.max_silence_ms;
    return max !== undefined && ts - lastTs >= max;
  }

  private outside(last: Reading['value'], v: Reading['value']): boolean {
    if (typeof last !== 'number' || typeof v !== 'number')
      // A state (on/off, a mode) or an object: report each change.
      return typeof last !== typeof v || JSON.stringify(last) !== JSON.stringify(v);
    const diff = Math.abs(v - last);
    if (this.config.band !== undefined) return diff > this.config.band;
    const pct = this.config.percent ?? 0;
    return last === 0 ? diff > 0 : diff > (pct / 100) * Math.abs(last);
  }
}

export const deadband: ProcessorDefinition<typeof schema> = {
  type: 'deadband',
  description:
    'Report by exception per device and metric: passes a value that leaves the band around the last one passed (absolute or percent), or after `max_silence_ms` (heartbeat). State is in memory: after a restart, the first reading of each series passes.',
  schema,
  sides: ['source', 'sink'],
  create: (config) => new Deadband(config),
};
