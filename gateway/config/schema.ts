// The config schema: the single source of truth for types, defaults, validation and the JSON Schema that
// `sluice config schema` prints. Component schemas come from the registries.
import { z } from 'zod';
import { observeSchema } from '../observe/options.js';
import { queueSchema } from '../queue/options.js';
import { fleetSchema } from './bootstrap-schema.js';
import { sinks } from '../sinks/index.js';
import { sources } from '../sources/index.js';
import { componentName } from './common.js';
import { processorList } from '../processors/index.js';

type SchemasOf<T extends readonly { schema: unknown }[]> = { -readonly [K in keyof T]: T[K]['schema'] };
/** The registry's schemas as a tuple, keeping each member's type for inference. */
function schemasOf<T extends readonly { schema: unknown }[]>(defs: T): SchemasOf<T> {
  return defs.map((d) => d.schema) as SchemasOf<T>;
}

/** Each component schema with the ordered `processors:` list of its side added (processors/index.ts). */
type WithProcessors<T extends readonly z.ZodObject[]> = {
  -readonly [K in keyof T]: z.ZodObject<
    T[K]['shape'] & { processors: ReturnType<typeof processorList> },
    T[K]['_zod']['config']
  >;
};
function withProcessors<T extends readonly z.ZodObject[]>(
  schemas: T,
  side: 'source' | 'sink',
): WithProcessors<T> {
  return schemas.map((s) => s.extend({ processors: processorList(side) })) as WithProcessors<T>;
}

const sourceSchema = z.discriminatedUnion('type', withProcessors(schemasOf(sources), 'source'));
const sinkSchema = z.discriminatedUnion('type', withProcessors(schemasOf(sinks), 'sink'));

export const configSchema = z
  .strictObject({
    gateway: z
      .strictObject({
        id: componentName.describe(
          "This gateway's id: the first half of every reading id (`<id>:<seq>`). Unique in the fleet.",
        ),
        data_dir: z.string().min(1).default('./data').describe('Directory of the queue and of state files.'),
      })
      .describe('Who this gateway is and where it keeps its data.'),
    queue: queueSchema,
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .prefault({}),
    observe: observeSchema,
    shutdown_timeout_ms: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe(
        'How long SIGTERM waits for sources to close and sinks to flush; also bounds starting, stopping or replacing one component.',
      ),
    sources: z.record(componentName, sourceSchema).default({}).describe('Where readings come from, by name.'),
    sinks: z
      .record(componentName, sinkSchema)
      .default({})
      .describe('Where readings go, by name; each has its own queue cursor.'),
    fleet: fleetSchema.optional(),
  })
  .describe('Sluice gateway configuration.');

export type Config = z.output<typeof configSchema>;
export type SourceConfig = Config['sources'][string];
export type SinkConfig = Config['sinks'][string];

/** JSON Schema (draft 2020-12) of the config file, for editors and `sluice config schema`. */
export function jsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
