// Builds one processor (or a chain) from config through the real schema and registry, as the gateway does.
import { ProcessorChain } from '../../gateway/processors/chain.js';
import { processorSchema, type ProcessorConfig } from '../../gateway/processors/index.js';
import type { ProcessorContext } from '../../gateway/processors/types.js';
import type { Reading } from '../../gateway/reading.js';

export interface Counted {
  in: number;
  out: number;
  dropped: Record<string, number>;
  errors: Record<string, number>;
}

export const ctx: ProcessorContext = {
  side: 'source',
  component: 'test',
  gatewayId: 'gw-test',
  fleetLabels: ['site-berlin', 'line-2'],
};

/** A chain of `configs` (validated by the schema) and the counters of each processor, by label. */
export function chainOf(
  configs: readonly unknown[],
  context: ProcessorContext = ctx,
): { chain: ProcessorChain; counts: Map<string, Counted>; errors: string[] } {
  const parsed: ProcessorConfig[] = configs.map((c) => processorSchema.parse(c));
  const counts = new Map<string, Counted>();
  const errors: string[] = [];
  const chain = ProcessorChain.build(
    parsed,
    context,
    (label) => {
      const c: Counted = { in: 0, out: 0, dropped: {}, errors: {} };
      counts.set(label, c);
      return {
        in: (n) => (c.in += n),
        out: (n) => (c.out += n),
        dropped: (n, reason) => (c.dropped[reason] = (c.dropped[reason] ?? 0) + n),
        error: (reason) => (c.errors[reason] = (c.errors[reason] ?? 0) + 1),
      };
    },
    (label, reason, detail) => errors.push(`${label}/${reason}: ${detail}`),
  );
  return { chain, counts, errors };
}

/** Runs one processor over readings and returns what it kept. */
export function run(config: unknown, readings: readonly Reading[]): Reading[] {
  return chainOf([config]).chain.run(readings).kept;
}

export function r(over: Partial<Reading> = {}): Reading {
  return {
    device: 'd1',
    metric: 'temperature',
    value: 20,
    unit: 'C',
    ts: 1_700_000_000_000,
    source: 'mqtt',
    ...over,
  };
}
