// `file`: JSON-lines files in a local directory, exactly once. The registry entry; the schema is in
// schema.ts, the sink in sink.ts.
import type { ComponentDefinition, Sink } from '../../components.js';
import { schema } from './schema.js';
import { FileSink } from './sink.js';

export const file: ComponentDefinition<typeof schema, Sink> = {
  type: 'file',
  description: 'JSON-lines files in a local directory, rolled by size, count and time, exactly once.',
  schema,
  create: (name, config, deps) => new FileSink(name, config, deps),
};
