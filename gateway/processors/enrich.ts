// `enrich`: static tags (site, location) and tags taken from this gateway's fleet labels
// (`fleet.labels`: a label `site-berlin` with prefix `site-` gives `site=berlin`), fixed at load.
import { z } from 'zod';
import type { Reading } from '../reading.js';
import { processorCommon, type Processor, type ProcessorDefinition, changed } from './types.js';

export const schema = z
  .strictObject({
    type: z.literal('enrich'),
    ...processorCommon,
    tags: z
      .record(z.string().min(1), z.string())
      .default({})
      .describe('Static tags, name -> value (`site: plant-3`).'),
    from_fleet_labels: z
      .array(
        z.strictObject({
          prefix: z.string().min(1).describe('Labels starting with this (`site-`).'),
          tag: z.string().min(1).describe('The tag that gets the rest of the label (`site`).'),
        }),
      )
      .default([])
      .describe(
        "Tags from this gateway's fleet labels (`fleet.labels`): the first label with the prefix gives the tag its remainder; no such label, no tag.",
      ),
    overwrite: z
      .boolean()
      .default(false)
      .describe('Replace a tag the reading already has (default: the reading’s own tag wins).'),
  })
  .refine((c) => Object.keys(c.tags).length > 0 || c.from_fleet_labels.length > 0, {
    message: 'enrich needs `tags` or `from_fleet_labels`',
  });

class Enrich implements Processor {
  constructor(
    private readonly tags: Readonly<Record<string, string>>,
    private readonly overwrite: boolean,
  ) {}

  process<R extends Reading>(r: R): R {
    if (Object.keys(this.tags).length === 0) return r;
    const tags = this.overwrite ? { ...r.tags, ...this.tags } : { ...this.tags, ...r.tags };
    return changed(r, { tags });
  }
}

export const enrich: ProcessorDefinition<typeof schema> = {
  type: 'enrich',
  description: "Adds static tags and tags from this gateway's fleet labels.",
  schema,
  sides: ['source', 'sink'],
  create: (config, ctx) => {
    const tags: Record<string, string> = {};
    for (const { prefix, tag } of config.from_fleet_labels) {
      const label = ctx.fleetLabels.find((l) => l.startsWith(prefix) && l.length > prefix.length);
      if (label !== undefined) tags[tag] = label.slice(prefix.length);
    }
    // Static tags win over label-derived ones of the same name: they are the more specific statement.
    return new Enrich({ ...tags, ...config.tags }, config.overwrite);
  },
};
