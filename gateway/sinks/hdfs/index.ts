// `hdfs`: readings to HDFS over WebHDFS (http) or swebhdfs (https), as JSON-lines or CSV files in templated
// directories, exactly once. The schema is in schema.ts; the sink is in sink.ts, the commit protocol in commit.ts.
import type { ComponentDefinition, Sink } from '../../components.js';
import { HdfsSink } from './sink.js';
import { schema } from './schema.js';

export { schema } from './schema.js';
export type { HdfsSinkConfig } from './schema.js';

export const hdfs: ComponentDefinition<typeof schema, Sink> = {
  type: 'hdfs',
  description: 'HDFS files over WebHDFS, rolled by size, count and time, exactly once.',
  schema,
  create: (name, config, deps) => new HdfsSink(name, config, deps),
};
