// `sql`: rows of a PostgreSQL, MySQL/MariaDB or SQLite database imported incrementally (Sqoop's append and
// lastmodified modes), each batch committed to the queue with its last position in one transaction. The
// schema is in schema.ts, the source in source.ts, the queries in incremental.ts, row -> readings in mapping.ts.
import type { ComponentDefinition, ComponentDeps, Source } from '../../components.js';
import { SqlSource } from './source.js';
import { schema, type SqlConfig } from './schema.js';

export { schema } from './schema.js';
export type { SqlConfig } from './schema.js';
export { SqlSource } from './source.js';
export type { SqlHealth, SqlStats } from './source.js';

export const sql: ComponentDefinition<typeof schema, Source> = {
  type: 'sql',
  description:
    'Rows of a PostgreSQL, MySQL/MariaDB or SQLite table or query, imported incrementally, exactly once into the queue.',
  schema,
  create: (name: string, config: SqlConfig, _deps: ComponentDeps) => new SqlSource(name, config),
};
