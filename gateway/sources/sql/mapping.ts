// Row -> readings for the `sql` source: the device from a template, the time from a column in its zone, tags
// from columns, and one reading per metric column (wide) or per row (long). Pure: no database, no queue.
import type { Reading, ReadingValue } from '../../reading.js';
import type { SqlConfig } from './schema.js';

/** A row as the drivers return it: column name -> value (see client.ts for what each SQL type arrives as). */
export type Row = Readonly<Record<string, unknown>>;

/** Why a row or a value gave no reading: the stable reasons counted as rejections. */
export type RejectReason =
  | 'sql_device_null'
  | 'sql_timestamp_invalid'
  | 'sql_metric_invalid'
  | 'sql_value_unsupported'
  | 'sql_column_missing';

export interface Mapped {
  readonly readings: Reading[];
  /** Metric values that were NULL: skipped, counted. */
  readonly nulls: number;
  readonly rejects: Array<{
    readonly reason: RejectReason;
    readonly device?: string;
    readonly detail: string;
  }>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What every reading of one row shares. */
interface Base {
  readonly device: string;
  readonly ts: number;
  readonly source: string;
  readonly tags: Readonly<Record<string, string>> | undefined;
}

interface MetricColumn {
  readonly column: string;
  readonly metric: string;
  readonly unit?: string;
}

/** Builds the mapper once per config; `used` are the columns that are not metrics (wide default). */
export class RowMapper {
  private readonly template: ReadonlyArray<string | { readonly column: string }>;
  private readonly metrics: readonly MetricColumn[] | undefined;
  private readonly notMetrics: ReadonlySet<string>;

  constructor(
    private readonly config: SqlConfig,
    private readonly sourceName: string,
  ) {
    this.template = parseTemplate(config.device ?? sourceName.replace(/[{}]/g, ''));
    const layout = config.layout;
    this.metrics = layout.type === 'wide' ? layout.metrics?.map(metricColumn) : undefined;
    const inc = config.incremental;
    this.notMetrics = new Set<string>([
      ...this.template.flatMap((p) => (typeof p === 'string' ? [] : [p.column])),
      ...(config.timestamp ? [config.timestamp.column] : []),
      ...config.tag_columns,
      inc.check_column,
      ...(inc.key_column ? [inc.key_column] : []),
    ]);
  }

  map(row: Row, now: number): Mapped {
    const nulls = 0;
    const rejects: Mapped['rejects'] = [];
    const device = this.device(row);
    if (device === undefined) {
      return {
        readings: [],
        nulls,
        rejects: [{ reason: 'sql_device_null', detail: 'a device template column is NULL or missing' }],
      };
    }
    let ts = now;
    if (this.config.timestamp) {
      const { column, time_zone, epoch_unit } = this.config.timestamp;
      const parsed = parseTimestamp(row[column], time_zone, epoch_unit);
      if (parsed === undefined) {
        return {
          readings: [],
          nulls,
          rejects: [
            { reason: 'sql_timestamp_invalid', device, detail: `${column} = ${describe(row[column])}` },
          ],
        };
      }
      ts = parsed;
    }
    let tags: Record<string, string> | undefined;
    for (const col of this.config.tag_columns) {
      const v = row[col];
      if (v === null || v === undefined) continue;
      (tags ??= {})[col] = scalarText(v) ?? JSON.stringify(v);
    }
    const base: Base = { device, ts, source: this.sourceName, tags };
    const layout = this.config.layout;
    if (layout.type === 'long') {
      const metric = row[layout.metric_column];
      if (typeof metric !== 'string' || metric === '' || metric.length > 64) {
        return {
          readings: [],
          nulls,
          rejects: [
            { reason: 'sql_metric_invalid', device, detail: `${layout.metric_column} = ${describe(metric)}` },
          ],
        };
      }
      const unit = layout.unit_column === undefined ? undefined : row[layout.unit_column];
      return this.values(
        [{ column: layout.value_column, metric, ...(typeof unit === 'string' && unit ? { unit } : {}) }],
        row,
        base,
        rejects,
      );
    }
    const columns =
      this.metrics ??
      Object.keys(row)
        .filter((c) => !this.notMetrics.has(c))
        .map((c) => ({ column: c, metric: c }));
    return this.values(columns, row, base, rejects);
  }

  private values(columns: readonly MetricColumn[], row: Row, base: Base, rejects: Mapped['rejects']): Mapped {
    const readings: Reading[] = [];
    let nulls = 0;
    for (const m of columns) {
      if (!(m.column in row)) {
        rejects.push({
          reason: 'sql_column_missing',
          device: base.device,
          detail: `the row has no column ${m.column}`,
        });
        continue;
      }
      const raw = row[m.column];
      if (raw === null || raw === undefined) {
        nulls++;
        continue;
      }
      const value = readingValue(raw);
      if (value === undefined) {
        rejects.push({
          reason: 'sql_value_unsupported',
          device: base.device,
          detail: `${m.column} = ${describe(raw)}`,
        });
        continue;
      }
      // Built field by field, in one shape: object spreads cost more than the whole rest of the mapping.
      const r: Mutable<Reading> = {
        device: base.device,
        metric: m.metric,
        value,
        ts: base.ts,
        source: base.source,
      };
      if (m.unit !== undefined) r.unit = m.unit;
      if (base.tags !== undefined) r.tags = base.tags;
      readings.push(r);
    }
    return { readings, nulls, rejects };
  }

  private device(row: Row): string | undefined {
    let out = '';
    for (const part of this.template) {
      if (typeof part === 'string') {
        out += part;
        continue;
      }
      const v = row[part.column];
      const text = scalarText(v);
      if (text === undefined) return undefined;
      out += text;
    }
    return out === '' ? undefined : out;
  }
}

function metricColumn(
  m: string | { column: string; metric?: string | undefined; unit?: string | undefined },
): MetricColumn {
  if (typeof m === 'string') return { column: m, metric: m };
  return { column: m.column, metric: m.metric ?? m.column, ...(m.unit ? { unit: m.unit } : {}) };
}

/** `plc-{line}` -> ['plc-', {column: 'line'}]. */
function parseTemplate(t: string): Array<string | { column: string }> {
  const parts: Array<string | { column: string }> = [];
  const re = /\{([^{}]+)\}/g;
  let at = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    if (m.index > at) parts.push(t.slice(at, m.index));
    parts.push({ column: m[1]! });
    at = m.index + m[0].length;
  }
  if (at < t.length) parts.push(t.slice(at));
  return parts;
}

/**
 * A SQL value as a reading value: numbers (NUMERIC and BIGINT arrive as text, kept as text only beyond 2^53
 * where a number would change them), booleans, text, JSON (parsed objects); undefined for what has no reading
 * form (binary, arrays of rows).
 */
export function readingValue(v: unknown): ReadingValue | undefined {
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? v : undefined;
    case 'boolean':
      return v;
    case 'bigint':
      return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    case 'string':
      return v;
    case 'object':
      if (v === null || Buffer.isBuffer(v) || v instanceof Uint8Array) return undefined;
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
      if (Array.isArray(v)) return { items: v };
      return v as Record<string, unknown>;
    default:
      return undefined;
  }
}

/** Numeric text from NUMERIC/BIGINT columns, as a number when that keeps it exact enough. */
export function numericText(v: string): number | string {
  const n = Number(v);
  if (!Number.isFinite(n)) return v;
  return /^-?\d+$/.test(v) && !Number.isSafeInteger(n) ? v : n;
}

const TS_TEXT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * Epoch ms of a timestamp value: text as PostgreSQL, MySQL and SQLite write it (an offset in the text wins,
 * else `zone`), a Date, or an epoch number in `unit`. Undefined when it is none of those.
 */
export function parseTimestamp(v: unknown, zone: string, unit: 's' | 'ms' | 'us'): number | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') {
    const n = Number(v);
    const ms = unit === 's' ? n * 1000 : unit === 'us' ? n / 1000 : n;
    return Number.isFinite(ms) ? Math.trunc(ms) : undefined;
  }
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.getTime();
  if (typeof v !== 'string') return undefined;
  const m = TS_TEXT.exec(v.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', off] = m;
  const wall = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +s, Number((frac + '000').slice(0, 3)));
  if (Number.isNaN(wall)) return undefined;
  if (off !== undefined) return wall - offsetMinutes(off) * 60_000;
  return wall - zoneOffsetMs(wall, zone);
}

function offsetMinutes(off: string): number {
  if (off.toUpperCase() === 'Z' || off === 'UTC') return 0;
  const digits = off.slice(1).replace(':', '');
  const mins = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
  return off.startsWith('-') ? -mins : mins;
}

/**
 * The offset of `zone` at the wall-clock time `wall` (that time written as if UTC). For an IANA zone, Intl
 * gives the zone's wall clock at an instant; two rounds find the instant whose wall clock is `wall` (in the
 * hour a DST change skips or repeats, the earlier offset's reading is taken).
 */
export function zoneOffsetMs(wall: number, zone: string): number {
  if (/^(Z|UTC|[+-]\d{2}(:?\d{2})?)$/.test(zone)) return offsetMinutes(zone) * 60_000;
  const fmt = formatter(zone);
  const offsetAt = (instant: number): number => {
    const p = Object.fromEntries(fmt.formatToParts(instant).map((x) => [x.type, x.value]));
    const asUtc = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour! % 24, +p.minute!, +p.second!);
    return asUtc - Math.floor(instant / 1000) * 1000;
  };
  const first = offsetAt(wall);
  const second = offsetAt(wall - first);
  return second;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** A scalar SQL value as text (numbers, booleans, text, dates); undefined for NULL, JSON and binary. */
function scalarText(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(v);
    default:
      return v instanceof Date ? v.toISOString() : undefined;
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `binary (${v.length} bytes)`;
  const s = typeof v === 'string' ? JSON.stringify(v) : (scalarText(v) ?? JSON.stringify(v));
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
