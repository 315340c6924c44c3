// One parser per line syntax (json, csv, kv, regex): a decoded line in, readings or a counted error out.
import type { DriverError, DriverReading, DriverValue } from '../driver.js';
import { RESERVED_GROUPS, namedGroups } from './schema.js';
import type { LinesFormat, LinesOptions } from './schema.js';

export interface LineResult {
  readonly readings: DriverReading[];
  readonly errors: DriverError[];
  /** True when the line was well-formed (it counts as a frame even if some values were rejected). */
  readonly valid: boolean;
}

export interface LineParser {
  parse(line: string): LineResult;
}

type Common = Pick<LinesOptions, 'timestamp_unit' | 'units'>;

export function createParser(format: LinesFormat, common: Common): LineParser {
  switch (format.type) {
    case 'json':
      return { parse: (line) => parseJson(line, format, common) };
    case 'csv':
      return new CsvParser(format, common);
    case 'kv':
      return { parse: (line) => parseKv(line, format, common) };
    case 'regex':
      return regexParser(format, common);
  }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Text from a device: numbers as numbers, true/false as booleans, anything else as the trimmed string. */
export function parseScalar(text: string): DriverValue {
  const t = text.trim();
  if (NUMBER.test(t) && Number.isFinite(Number(t))) return Number(t);
  const lower = t.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return t;
}

/** Epoch number (in `unit`), numeric string, or ISO 8601 string -> ms; undefined when unreadable. */
export function parseTimestamp(raw: unknown, unit: 'ms' | 's'): number | undefined {
  let ms: number;
  if (typeof raw === 'number') ms = unit === 's' ? raw * 1000 : raw;
  else if (typeof raw === 'string' && NUMBER.test(raw.trim())) ms = parseTimestamp(Number(raw), unit) ?? NaN;
  else if (typeof raw === 'string') ms = Date.parse(raw);
  else return undefined;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

function fail(reason: string, detail: string): LineResult {
  return { readings: [], errors: [{ reason, detail }], valid: false };
}

function reading(
  metric: string,
  value: DriverValue,
  extra: { device?: string | undefined; ts?: number | undefined; unit?: string | undefined },
  common: Common,
): DriverReading {
  const unit = extra.unit ?? own(common.units, metric);
  return {
    metric,
    value,
    ...(extra.device !== undefined && { device: extra.device }),
    ...(unit !== undefined && { unit }),
    ...(extra.ts !== undefined && { ts: extra.ts }),
  };
}

/** A key's value only if the object itself has it: `constructor` or `toString` are not device data. */
function own<T>(obj: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function label(v: unknown): string | undefined {
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

/** A JSON value a reading can carry: finite number, string, boolean or plain object (not null, arrays). */
function jsonValue(v: unknown): DriverValue | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined; // JSON.parse('1e999') is Infinity
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  return isPlainObject(v) ? v : undefined;
}

function parseJson(line: string, f: Extract<LinesFormat, { type: 'json' }>, common: Common): LineResult {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch (err) {
    return fail('bad_json', err instanceof Error ? err.message : String(err));
  }
  if (!isPlainObject(doc)) return fail('bad_json', 'line is not a JSON object');
  const device = label(own(doc, f.device_key));
  const rawTs = own(doc, f.timestamp_key);
  const ts = rawTs === undefined ? undefined : parseTimestamp(rawTs, common.timestamp_unit);
  if (rawTs !== undefined && ts === undefined)
    return fail('bad_timestamp', `${f.timestamp_key}: ${JSON.stringify(rawTs)}`);
  const metric = own(doc, f.metric_key);
  if (typeof metric === 'string' && Object.hasOwn(doc, f.value_key)) {
    // The single-reading form: {device, metric, value, unit, ts}.
    const rawValue = own(doc, f.value_key);
    const value = jsonValue(rawValue);
    if (value === undefined || metric === '')
      return fail('bad_value', `${metric}: ${JSON.stringify(rawValue)}`);
    const rawUnit = own(doc, f.unit_key);
    const unit = typeof rawUnit === 'string' ? rawUnit : undefined;
    return { readings: [reading(metric, value, { device, ts, unit }, common)], errors: [], valid: true };
  }
  const readings: DriverReading[] = [];
  const errors: DriverError[] = [];
  for (const [key, raw] of Object.entries(doc)) {
    if (key === f.device_key || key === f.timestamp_key) continue;
    const value = jsonValue(raw);
    if (value === undefined) errors.push({ reason: 'bad_value', detail: `${key}: ${JSON.stringify(raw)}` });
    else readings.push(reading(key, value, { device, ts }, common));
  }
  return { readings, errors, valid: true };
}

/** Splits one CSV record (RFC 4180 quoting, `""` inside quotes); undefined when a quote is unbalanced. */
export function splitCsv(line: string, separator: string): string[] | undefined {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === separator) {
      fields.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) return undefined;
  fields.push(field);
  return fields;
}

class CsvParser implements LineParser {
  private columns: string[] | undefined;

  constructor(
    private readonly f: Extract<LinesFormat, { type: 'csv' }>,
    private readonly common: Common,
  ) {
    this.columns = f.columns?.slice();
  }

  parse(line: string): LineResult {
    const fields = splitCsv(line, this.f.separator)?.map((s) => s.trim());
    if (fields === undefined) return fail('bad_csv', 'unbalanced quote');
    if (this.columns === undefined) {
      // The header line: learned once, kept across reset() since devices rarely repeat it.
      this.columns = fields;
      return { readings: [], errors: [], valid: true };
    }
    const columns = this.columns;
    if (fields.length === columns.length && fields.every((v, i) => v === columns[i])) {
      return { readings: [], errors: [], valid: true }; // the header again, e.g. after the device rebooted
    }
    if (fields.length !== columns.length) {
      return fail('column_count', `${fields.length} fields, expected ${columns.length}`);
    }
    const at = (name: string | undefined): string | undefined =>
      name === undefined ? undefined : fields[columns.indexOf(name)];
    const device = at(this.f.device_column) || undefined;
    const rawTs = at(this.f.timestamp_column);
    let ts: number | undefined;
    if (rawTs !== undefined && rawTs !== '') {
      ts = parseTimestamp(rawTs, this.common.timestamp_unit);
      if (ts === undefined) return fail('bad_timestamp', `${this.f.timestamp_column}: ${rawTs}`);
    }
    const readings: DriverReading[] = [];
    columns.forEach((name, i) => {
      const raw = fields[i];
      if (name === '' || name === this.f.device_column || name === this.f.timestamp_column) return;
      if (raw === undefined || raw === '') return; // an empty cell is a missing value, not an error
      readings.push(reading(name, parseScalar(raw), { device, ts }, this.common));
    });
    return { readings, errors: [], valid: true };
  }
}

function parseKv(line: string, f: Extract<LinesFormat, { type: 'kv' }>, common: Common): LineResult {
  const pairs: [string, string][] = [];
  for (const token of line.split(f.pair_separator)) {
    if (token.trim() === '') continue;
    const at = token.indexOf(f.kv_separator);
    const key = at < 0 ? '' : token.slice(0, at).trim();
    if (key === '') return fail('bad_kv', `not key${f.kv_separator}value: ${token.slice(0, 64)}`);
    pairs.push([key, token.slice(at + f.kv_separator.length)]);
  }
  let device: string | undefined;
  let ts: number | undefined;
  const readings: DriverReading[] = [];
  for (const [key, raw] of pairs) {
    if (key === f.device_key) device = raw.trim();
    else if (key === f.timestamp_key) {
      ts = parseTimestamp(raw, common.timestamp_unit);
      if (ts === undefined) return fail('bad_timestamp', `${key}: ${raw}`);
    }
  }
  for (const [key, raw] of pairs) {
    if (key !== f.device_key && key !== f.timestamp_key) {
      readings.push(reading(key, parseScalar(raw), { device, ts }, common));
    }
  }
  return { readings, errors: [], valid: true };
}

function regexParser(f: Extract<LinesFormat, { type: 'regex' }>, common: Common): LineParser {
  const re = new RegExp(f.pattern, f.case_insensitive ? 'i' : '');
  const reserved: readonly string[] = RESERVED_GROUPS;
  const single = namedGroups(f.pattern)?.includes('value') === true;
  return {
    parse(line) {
      const groups = re.exec(line)?.groups;
      if (groups === undefined) return fail('no_match', line.slice(0, 64));
      const device = groups.device || undefined;
      let ts: number | undefined;
      if (groups.ts !== undefined && groups.ts !== '') {
        ts = parseTimestamp(groups.ts, common.timestamp_unit);
        if (ts === undefined) return fail('bad_timestamp', `ts: ${groups.ts}`);
      }
      if (single) {
        if (groups.value === undefined || groups.value === '') return fail('no_match', 'empty value group');
        const metric = groups.metric || f.metric;
        if (metric === undefined) return fail('no_match', 'empty metric group');
        const unit = groups.unit || undefined;
        return {
          readings: [reading(metric, parseScalar(groups.value), { device, ts, unit }, common)],
          errors: [],
          valid: true,
        };
      }
      const readings: DriverReading[] = [];
      for (const [name, raw] of Object.entries(groups)) {
        if (reserved.includes(name) || raw === undefined || raw === '') continue;
        readings.push(reading(name, parseScalar(raw), { device, ts }, common));
      }
      return { readings, errors: [], valid: true };
    },
  };
}
