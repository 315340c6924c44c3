// `tag`: adds tags whose values are templates of the reading, and removes tags by name.
import { z } from 'zod';
import type { Reading } from '../reading.js';
import { Template, templateString } from './template.js';
import { processorCommon, type Processor, type ProcessorDefinition, changed } from './types.js';

export const schema = z
  .strictObject({
    type: z.literal('tag'),
    ...processorCommon,
    add: z
      .record(
        z.string().min(1),
        templateString('Tag value template: {device}, {metric}, {unit}, {source}, {tags.NAME}.'),
      )
      .default({})
      .describe('Tags to set (overwriting a tag of that name), name -> value template.'),
    remove: z.array(z.string().min(1)).default([]).describe('Tags to remove (before `add` is applied).'),
  })
  .refine((c) => Object.keys(c.add).length > 0 || c.remove.length > 0, {
    message: 'tag needs `add` or `remove`',
  });

class Tag implements Processor {
  private readonly add: readonly (readonly [string, Template])[];
  private readonly remove: ReadonlySet<string>;

  constructor(config: z.output<typeof schema>) {
    this.add = Object.entries(config.add).map(([k, v]) => [k, Template.compile(v)] as const);
    this.remove = new Set(config.remove);
  }

  process<R extends Reading>(r: R): R {
    // Copied key by key rather than spread-then-delete: `delete` turns the object slow on the hot path.
    const tags: Record<string, string> = {};
    let any = false;
    if (r.tags)
      for (const [k, v] of Object.entries(r.tags))
        if (!this.remove.has(k)) {
          tags[k] = v;
          any = true;
        }
    // Values are rendered from the input reading, so removing a tag and using it in a template works.
    for (const [k, t] of this.add) {
      tags[k] = t.render(r);
      any = true;
    }
    if (any) return changed(r, { tags });
    const { tags: _removed, ...rest } = r;
    return rest as R;
  }
}

export const tag: ProcessorDefinition<typeof schema> = {
  type: 'tag',
  description: 'Adds tags from templates of the reading and removes tags by name.',
  schema,
  sides: ['source', 'sink'],
  create: (config) => new Tag(config),
};
