// The incremental query of the `sql` source and the position it resumes from: Sqoop's `append` (rows after
// the last check value) and `lastmodified` (rows after the last (timestamp, key) pair, so rows sharing a
// timestamp are neither lost nor repeated), for a table (Sluice writes the SQL) or the user's own query.
import { createHash } from 'node:crypto';
import { placeholder, quoteIdent, type Driver } from './client.js';
import { PLACEHOLDERS, type SqlConfig } from './schema.js';

/** A check value as the driver returned it (text for timestamps and big numbers, so it binds back exactly). */
export type CheckValue = string | number;

/** The last imported row: its check value and, in lastmodified mode, its key. What the queue stores. */
export interface Position {
  readonly value: CheckValue;
  readonly key?: CheckValue;
}

export interface BuiltQuery {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/**
 * The durable state's key: which rows the position is a position in. A changed table, query, check or key
 * column (or another database) starts a new import from start_value; batch size or mapping changes do not.
 */
export function stateKey(c: SqlConfig): string {
  const inc = c.incremental;
  const identity = [
    c.driver,
    c.host,
    c.port ?? '',
    c.database ?? '',
    c.path ?? '',
    c.table?.name ?? '',
    c.query ?? '',
    inc.mode,
    inc.check_column,
    inc.key_column ?? '',
  ];
  return `sql/${createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16)}`;
}

/** The position a first run starts after: start_value (no key: every row of that timestamp is after it). */
export function startPosition(c: SqlConfig): Position | undefined {
  const start = c.incremental.start_value;
  return start === undefined ? undefined : { value: start };
}

/** The next batch's query: rows after `pos`, in (check, key) order, at most batch_size. */
export function batchQuery(c: SqlConfig, pos: Position | undefined): BuiltQuery {
  return c.query === undefined ? tableQuery(c, pos) : userQuery(c, c.query, pos);
}

function tableQuery(c: SqlConfig, pos: Position | undefined): BuiltQuery {
  const d = c.driver;
  const inc = c.incremental;
  const check = quoteIdent(d, inc.check_column);
  const key = inc.key_column === undefined ? undefined : quoteIdent(d, inc.key_column);
  const table = c.table!;
  const cols =
    table.columns === undefined
      ? '*'
      : [...new Set([...table.columns, inc.check_column, ...(inc.key_column ? [inc.key_column] : [])])]
          .map((col) => quoteIdent(d, col))
          .join(', ');
  const params: unknown[] = [];
  const p = (v: unknown): string => {
    params.push(v);
    return placeholder(d, params.length);
  };
  let where: string;
  if (pos === undefined) where = `${check} IS NOT NULL`;
  else if (key === undefined || pos.key === undefined) where = `${check} > ${p(pos.value)}`;
  else if (d === 'mysql') {
    // MySQL's optimizer uses an index for this form, not for a row-value comparison.
    where = `${check} >= ${p(pos.value)} AND (${check} > ${p(pos.value)} OR ${key} > ${p(pos.key)})`;
  } else where = `(${check}, ${key}) > (${p(pos.value)}, ${p(pos.key)})`;
  const order = key === undefined ? check : `${check}, ${key}`;
  const sql = `SELECT ${cols} FROM ${quoteIdent(d, table.name)} WHERE ${where} ORDER BY ${order} LIMIT ${p(c.batch_size)}`;
  return { sql, params };
}

/** The user's query with each placeholder bound, in order of appearance ({last_key} NULL before any key). */
function userQuery(c: SqlConfig, text: string, pos: Position | undefined): BuiltQuery {
  const values: Record<string, unknown> = {
    [PLACEHOLDERS.last]: pos?.value,
    [PLACEHOLDERS.lastKey]: pos?.key ?? null,
    [PLACEHOLDERS.limit]: c.batch_size,
  };
  const params: unknown[] = [];
  const sql = text.replace(/\{last\}|\{last_key\}|\{limit\}/g, (ph) => {
    params.push(values[ph]);
    return placeholder(c.driver, params.length);
  });
  return { sql, params };
}

/** The highest check value of the table (for the check that it never goes backwards); table mode only. */
export function maxQuery(c: SqlConfig): BuiltQuery | undefined {
  if (c.table === undefined) return undefined;
  const d: Driver = c.driver;
  return {
    sql: `SELECT MAX(${quoteIdent(d, c.incremental.check_column)}) AS m FROM ${quoteIdent(d, c.table.name)}`,
    params: [],
  };
}

/** A row's check value (and key) as a position; undefined when the row lacks one. */
export function rowPosition(c: SqlConfig, row: Readonly<Record<string, unknown>>): Position | undefined {
  const value = checkValue(row[c.incremental.check_column]);
  if (value === undefined) return undefined;
  if (c.incremental.key_column === undefined) return { value };
  const key = checkValue(row[c.incremental.key_column]);
  return key === undefined ? undefined : { value, key };
}

/** A value usable as a position: numbers and text (bigints as text). */
export function checkValue(v: unknown): CheckValue | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  return undefined;
}

/**
 * Orders check values where JavaScript orders them as the database does: numbers (and numeric text)
 * numerically, timestamp text (a fixed-width `YYYY-MM-DD hh:mm:ss...` form) by code point. Other text is
 * ordered by the database's collation, which JavaScript does not know: undefined, the database's order is
 * trusted (its predicate already returned only rows after the position).
 */
export function compareValues(a: CheckValue, b: CheckValue): number | undefined {
  const na = numeric(a);
  const nb = numeric(b);
  if (na !== undefined && nb !== undefined) return na < nb ? -1 : na > nb ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string' && TIMESTAMP_TEXT.test(a) && TIMESTAMP_TEXT.test(b))
    return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

const TIMESTAMP_TEXT = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?([+-]\d{2}(:?\d{2})?|Z)?$/;

function numeric(v: CheckValue): bigint | number | undefined {
  if (typeof v === 'number') return v;
  if (/^-?\d+$/.test(v)) return BigInt(v);
  if (/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(v)) return Number(v);
  return undefined;
}

/**
 * Orders positions: by check value, then key (a position without a key is before every key of its value);
 * undefined where JavaScript cannot order them as the database does (see `compareValues`).
 */
export function comparePositions(a: Position, b: Position): number | undefined {
  const byValue = compareValues(a.value, b.value);
  if (byValue !== 0) return byValue;
  if (a.key === undefined) return b.key === undefined ? 0 : -1;
  if (b.key === undefined) return 1;
  return compareValues(a.key, b.key);
}

/** What the queue holds as the state (plain data). */
export function isPosition(v: unknown): v is Position {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  const ok = (x: unknown): boolean => typeof x === 'string' || typeof x === 'number';
  return ok(p.value) && (p.key === undefined || ok(p.key));
}
