// The `sql` source's config schema, the single source of truth of its options: which database, which rows
// (a table or a query), how they are imported incrementally (Sqoop's `append` and `lastmodified`), and how a
// row becomes readings.
import { isIP } from 'node:net';
import { z } from 'zod';
import { backoffSchema, configFile, durationMs } from '../../config/common.js';
import { credentialFields, credentialProblems } from '../../config/credentials.js';
import { tlsClientSchema } from '../../config/tls.js';

/** The placeholders a `query` may hold; each becomes a bound parameter (never text pasted into SQL). */
export const PLACEHOLDERS = { last: '{last}', lastKey: '{last_key}', limit: '{limit}' } as const;

const column = z.string().min(1).max(128);

const metricColumn = z.union([
  column,
  z.strictObject({
    column,
    metric: z.string().min(1).max(64).optional().describe('Metric name. Default: the column name.'),
    unit: z.string().min(1).max(32).optional(),
  }),
]);

const layoutSchema = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('wide'),
      metrics: z
        .array(metricColumn)
        .min(1)
        .max(256)
        .optional()
        .describe(
          'Columns that hold a metric each (a name, or `{column, metric, unit}`). Default: every column of the row not used as device, timestamp, tag, check or key column.',
        ),
    })
    .describe('Wide rows: one reading per metric column.'),
  z
    .strictObject({
      type: z.literal('long'),
      metric_column: column.describe('Column holding the metric name.'),
      value_column: column.describe('Column holding the value.'),
      unit_column: column.optional().describe('Column holding the unit, if any.'),
    })
    .describe('Long rows: one reading per row, its metric named by a column.'),
]);

export const schema = z
  .strictObject({
    type: z.literal('sql'),
    driver: z
      .enum(['postgres', 'mysql', 'sqlite'])
      .describe('The database: PostgreSQL (pg), MySQL or MariaDB (mysql2), a SQLite file (better-sqlite3).'),
    host: z.string().min(1).default('127.0.0.1').describe('Server host (postgres, mysql).'),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('Server port. Default: 5432 (postgres), 3306 (mysql).'),
    database: z.string().min(1).optional().describe('Database name (postgres, mysql).'),
    path: configFile('SQLite database file, opened read-only (sqlite).', {
      what: 'SQLite database',
    }).optional(),
    ...credentialFields,
    tls: tlsClientSchema
      .optional()
      .describe('Connect with TLS (postgres, mysql); present means the server certificate is verified.'),
    connect_timeout_ms: durationMs.min(1).default(10_000).describe('Longest wait for a connection.'),
    query_timeout_ms: durationMs
      .min(1)
      .default(60_000)
      .describe(
        'Longest a batch query may run (PostgreSQL statement_timeout, MySQL query timeout); then it fails as a query error and is retried with backoff.',
      ),
    table: z
      .strictObject({
        name: z
          .string()
          .min(1)
          .max(256)
          .describe('Table (or view), optionally schema-qualified: `plant.readings`.'),
        columns: z
          .array(column)
          .min(1)
          .max(512)
          .optional()
          .describe('Columns to select (the check and key columns are added). Default: all (`*`).'),
      })
      .optional()
      .describe('Import from a table: Sluice writes the incremental query.'),
    query: z
      .string()
      .min(1)
      .max(65_536)
      .optional()
      .describe(
        'Import with your own query instead of `table`: it must hold `{last}` (the last imported check value), `{limit}` (the batch size) and, in lastmodified mode, `{last_key}`, and return rows ordered by the check column (then the key column). Example: `SELECT * FROM t WHERE id > {last} ORDER BY id LIMIT {limit}`.',
      ),
    incremental: z
      .strictObject({
        mode: z
          .enum(['append', 'lastmodified'])
          .describe(
            '`append`: rows are only added and `check_column` only grows (an id). `lastmodified`: `check_column` is a timestamp set on insert and update, and `key_column` breaks ties: rows after (last timestamp, last key) are imported.',
          ),
        check_column: column.describe(
          'Column whose last imported value is kept (durably, with the readings).',
        ),
        key_column: column
          .optional()
          .describe('Primary key column, the tie-breaker of lastmodified (rows sharing a timestamp).'),
        start_value: z
          .string()
          .min(1)
          .optional()
          .describe(
            'Import rows after this check value on the first run (a number or a timestamp as text). Default: every row (table); required with `query`.',
          ),
      })
      .describe('How rows are imported incrementally (as Sqoop names the modes).'),
    batch_size: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1000)
      .describe('Most rows per query; each batch is appended with its last value in one transaction.'),
    poll_interval_ms: durationMs
      .min(10)
      .default(5000)
      .describe('Time between queries once caught up (a full batch is followed by the next at once).'),
    retry: backoffSchema.prefault({}).describe('Backoff after a failed connection or query.'),
    device: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe(
        'Device of the readings: a template where `{column}` is replaced by the column value, e.g. `plc-{line}` or `{device_id}`. Default: the source name.',
      ),
    timestamp: z
      .strictObject({
        column: column.describe('Column holding the reading time (a timestamp, or epoch numbers).'),
        time_zone: z
          .string()
          .min(1)
          .default('UTC')
          .describe(
            'Zone of timestamps that carry none (`timestamp without time zone`, DATETIME, SQLite text): `UTC`, an offset `+02:00`, or an IANA zone `Europe/Berlin`.',
          ),
        epoch_unit: z
          .enum(['s', 'ms', 'us'])
          .default('ms')
          .describe('Unit of a numeric timestamp column (SQLite integers).'),
      })
      .optional()
      .describe('Where each reading’s time comes from. Default: the time the row was read.'),
    tag_columns: z.array(column).max(32).default([]).describe('Columns copied into every reading as tags.'),
    layout: layoutSchema.prefault({ type: 'wide' }).describe('How a row becomes readings.'),
  })
  .superRefine((c, ctx) => {
    const issue = (path: string[], message: string): void => ctx.addIssue({ code: 'custom', path, message });
    for (const p of credentialProblems(c, false)) issue([...p.path], p.message);
    if (c.driver === 'sqlite') {
      if (c.path === undefined) issue(['path'], 'the sqlite driver reads the file named by `path`');
      if (c.tls !== undefined) issue(['tls'], 'a SQLite file is opened locally: no TLS');
    } else {
      if (c.database === undefined) issue(['database'], `the ${c.driver} driver needs the database name`);
      if (c.path !== undefined) issue(['path'], 'only the sqlite driver reads a file');
      // mysql2 (3.24) checks a server certificate reached by IP address against the name "localhost", not
      // the address: refused rather than checked against the wrong name.
      if (c.driver === 'mysql' && c.tls?.verify_hostname === true && isIP(c.host) !== 0)
        issue(
          ['host'],
          'with tls, the mysql driver can check the certificate only against a host name: give the name in the server certificate, or set tls.verify_hostname: false (the certificate chain is still verified)',
        );
    }
    if ((c.table === undefined) === (c.query === undefined))
      issue(['table'], 'give exactly one of table and query');
    const inc = c.incremental;
    if (inc.mode === 'lastmodified' && inc.key_column === undefined)
      issue(
        ['incremental', 'key_column'],
        'lastmodified needs the primary key as tie-breaker (rows sharing a timestamp)',
      );
    if (inc.mode === 'append' && inc.key_column !== undefined)
      issue(
        ['incremental', 'key_column'],
        'only lastmodified uses a key column (append’s check column is unique)',
      );
    if (c.query !== undefined) {
      const needed: string[] = [PLACEHOLDERS.last, PLACEHOLDERS.limit];
      if (inc.mode === 'lastmodified') needed.push(PLACEHOLDERS.lastKey);
      for (const p of needed)
        if (!c.query.includes(p))
          issue(['query'], `must hold the placeholder ${p} (see the option's description)`);
      if (inc.start_value === undefined)
        issue(
          ['incremental', 'start_value'],
          'a query needs a first value for {last} (e.g. 0, or 1970-01-01 00:00:00)',
        );
    }
    if (c.timestamp !== undefined && !validZone(c.timestamp.time_zone))
      issue(
        ['timestamp', 'time_zone'],
        'is not UTC, an offset like +02:00, or an IANA zone like Europe/Berlin',
      );
  })
  .describe(
    'Rows of a PostgreSQL, MySQL/MariaDB or SQLite database imported incrementally (as Sqoop does): each batch of readings is committed with the last imported value in one queue transaction, so after a crash the import resumes after the last committed row, none twice, none missed.',
  );

export type SqlConfig = z.output<typeof schema>;

/** An offset (`+02:00`, `-0530`, `Z`, `UTC`) or a zone Node's Intl knows. */
export function validZone(zone: string): boolean {
  if (/^(Z|UTC|[+-]\d{2}(:?\d{2})?)$/.test(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch (err) {
    return !(err instanceof RangeError);
  }
}
