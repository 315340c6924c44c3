// `rename`: new metric and device names from templates (`{device}.{metric}`, `{tags.line}-{device}`).
import { z } from 'zod';
import type { Reading } from '../reading.js';
import { Template, templateString } from './template.js';
import { processorCommon, type Processor, type ProcessorDefinition, changed } from './types.js';

export const schema = z
  .strictObject({
    type: z.literal('rename'),
    ...processorCommon,
    metric: templateString(
      'New metric name, e.g. `{device}_{metric}`; placeholders {device}, {metric}, {unit}, {source}, {tags.NAME}.',
    ).optional(),
    device: templateString('New device name, e.g. `{tags.site}-{device}`; the same placeholders.').optional(),
    metrics: z
      .array(z.string().min(1))
      .optional()
      .describe('Only readings of these metrics (exact names); default every reading.'),
  })
  .refine((c) => c.metric !== undefined || c.device !== undefined, {
    message: 'rename needs `metric` or `device` (or both)',
  });

class Rename implements Processor {
  private readonly metric: Template | undefined;
  private readonly device: Template | undefined;
  private readonly only: ReadonlySet<string> | undefined;

  constructor(config: z.output<typeof schema>) {
    this.metric = config.metric === undefined ? undefined : Template.compile(config.metric);
    this.device = config.device === undefined ? undefined : Template.compile(config.device);
    this.only = config.metrics && new Set(config.metrics);
  }

  process<R extends Reading>(r: R): R {
    if (this.only && !this.only.has(r.metric)) return r;
    // Both are rendered from the input, so `device: "{metric}"` sees the old metric name.
    const metric = this.metric ? this.metric.render(r) : r.metric;
    const device = this.device ? this.device.render(r) : r.device;
    return changed(r, { metric, device });
  }
}

export const rename: ProcessorDefinition<typeof schema> = {
  type: 'rename',
  description: 'Sets metric and device names from templates of the reading (both rendered from the input).',
  schema,
  sides: ['source', 'sink'],
  create: (config) => new Rename(config),
};
