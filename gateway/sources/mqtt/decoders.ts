// Payload decoders: MQTT payload bytes in, readings out. Pure functions, no I/O; a bad payload is a result
// with a stable reason, never an exception, so one device's garbage cannot stall anyone's stream.
import { Decoder } from 'cbor-x';
import type { Reading, ReadingValue } from '../../reading.js';

export const DECODERS = ['number', 'string', 'json', 'cbor', 'senml_json', 'senml_cbor'] as const;
export type DecoderName = (typeof DECODERS)[number];

/** What the topic (and rule) already say about the readings in a payload. */
export interface DecodeContext {
  readonly device: string;
  /** From a `{metric}` level or the rule's `metric`; required by payloads that carry a bare value. */
  readonly metric: string | undefined;
  readonly unit: string | undefined;
  readonly tags: Readonly<Record<string, string>> | undefined;
  readonly source: string;
  /** Receive time, epoch ms: the timestamp of readings that carry none. */
  readonly now: number;
  readonly maxReadings: number;
}

export type DecodeResult =
  | { readonly ok: true; readonly readings: Reading[] }
  | { readonly ok: false; readonly reason: string; readonly detail: string };

type Fail = { readonly ok: false; readonly reason: string; readonly detail: string };
const fail = (reason: string, detail: string): Fail => ({ ok: false, reason, detail });

const utf8 = new TextDecoder('utf-8', { fatal: true });
const cbor = new Decoder({ useRecords: false, mapsAsObjects: true });
/** A JSON/CBOR number, in the grammar of RFC 8259 §6 (no hex, no `Infinity`, no leading `+`). */
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const MAX_OBJECT_DEPTH = 8;

export function decode(name: DecoderName, payload: Uint8Array, ctx: DecodeContext): DecodeResult {
  switch (name) {
    case 'number': {
      const text = text_(payload);
      if (typeof text !== 'string') return text;
      const t = text.trim();
      if (!NUMBER.test(t)) return fail('not_a_number', `payload is not a number: ${preview(t)}`);
      return single(Number(t), ctx);
    }
    case 'string': {
      const text = text_(payload);
      return typeof text === 'string' ? single(text, ctx) : text;
    }
    case 'json':
    case 'senml_json': {
      const text = text_(payload);
      if (typeof text !== 'string') return text;
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        return fail('bad_json', (err as Error).message);
      }
      return name === 'json' ? structured(doc, ctx) : senml(doc, ctx, 'json');
    }
    case 'cbor':
    case 'senml_cbor': {
      let doc: unknown;
      try {
        doc = cbor.decode(payload);
      } catch (err) {
        return fail('bad_cbor', err instanceof Error ? err.message : String(err));
      }
      return name === 'cbor' ? structured(doc, ctx) : senml(doc, ctx, 'cbor');
    }
  }
}

function text_(payload: Uint8Array): string | Fail {
  try {
    return utf8.decode(payload);
  } catch {
    return fail('not_utf8', 'payload is not valid UTF-8');
  }
}

function preview(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}

function single(value: ReadingValue, ctx: DecodeContext): DecodeResult {
  if (ctx.metric === undefined)
    return fail('no_metric', 'a bare value needs a {metric} in the topic rule or a rule `metric`');
  return { ok: true, readings: [reading(ctx, ctx.metric, value, ctx.unit, ctx.now)] };
}

function reading(
  ctx: DecodeContext,
  metric: string,
  value: ReadingValue,
  unit: string | undefined,
  ts: number,
): Reading {
  const r: { -readonly [K in keyof Reading]: Reading[K] } = {
    device: ctx.device,
    metric,
    value,
    ts,
    source: ctx.source,
  };
  if (unit !== undefined) r.unit = unit;
  if (ctx.tags !== undefined) r.tags = ctx.tags;
  return r;
}

/**
 * JSON or CBOR documents, in three shapes:
 * - a bare value (`21.5`, `"on"`, `true`): one reading, metric from the topic;
 * - an object with `value` (`{"value": 21.5, "unit": "C", "ts": 1700000000000, "metric": "t"}`): one reading;
 * - an object of metrics (`{"temperature": 21.5, "humidity": {"value": 40, "unit": "%"}, "ts": ...}`);
 * - an array of objects with `metric` and `value`.
 */
export function structured(doc: unknown, ctx: DecodeContext): DecodeResult {
  if (typeof doc === 'bigint') return fail('bad_value', 'integer out of the exact range of a double');
  if (isScalar(doc)) {
    const v = scalar(doc);
    return v === undefined
      ? fail('bad_value', 'value is not a finite number, string or boolean')
      : single(v, ctx);
  }
  if (Array.isArray(doc)) {
    if (doc.length === 0) return fail('empty', 'empty array');
    if (doc.length > ctx.maxReadings)
      return fail(
        'too_many_readings',
        `${doc.length} readings in one message (max_readings_per_message ${ctx.maxReadings})`,
      );
    const out: Reading[] = [];
    for (const el of doc) {
      if (!isPlainObject(el) || !('value' in el))
        return fail('bad_shape', 'array elements must be objects with `metric` and `value`');
      const r = fromValueObject(el, ctx);
      if ('ok' in r) return r;
      out.push(r);
    }
    return { ok: true, readings: out };
  }
  if (!isPlainObject(doc)) return fail('bad_shape', 'expected a value, an object or an array');
  if ('value' in doc) {
    const r = fromValueObject(doc, ctx);
    return 'ok' in r ? r : { ok: true, readings: [r] };
  }
  const ts = timestamp(doc.ts, ctx.now);
  if (ts === undefined) return fail('bad_timestamp', '`ts` must be epoch milliseconds or an RFC 3339 string');
  const out: Reading[] = [];
  for (const [metric, v] of Object.entries(doc)) {
    if (metric === 'ts') continue;
    if (out.length >= ctx.maxReadings)
      return fail('too_many_readings', `more than max_readings_per_message (${ctx.maxReadings}) metrics`);
    if (isPlainObject(v) && 'value' in v) {
      const r = fromValueObject({ ts: doc.ts, ...v, metric }, ctx);
      if ('ok' in r) return r;
      out.push(r);
      continue;
    }
    const value = isScalar(v) ? scalar(v) : undefined;
    if (value === undefined)
      return fail(
        'bad_value',
        `metric ${JSON.stringify(metric)} is not a number, string, boolean or {value}`,
      );
    if (metric === '') return fail('no_metric', 'empty metric name');
    out.push(reading(ctx, metric, value, ctx.unit, ts));
  }
  if (out.length === 0) return fail('empty', 'object holds no metrics');
  return { ok: true, readings: out };
}

function fromValueObject(o: Record<string, unknown>, ctx: DecodeContext): Reading | Fail {
  const metric = o.metric === undefined ? ctx.metric : o.metric;
  if (typeof metric !== 'string' || metric === '')
    return fail('no_metric', '`metric` missing (not in the object, the topic or the rule)');
  const value = jsonValue(o.value);
  if (value === undefined)
    return fail(
      'bad_value',
      `metric ${JSON.stringify(metric)}: value is not a finite number, string, boolean or small object`,
    );
  const unit = o.unit === undefined ? ctx.unit : o.unit;
  if (unit !== undefined && typeof unit !== 'string') return fail('bad_value', '`unit` must be a string');
  const ts = timestamp(o.ts, ctx.now);
  if (ts === undefined) return fail('bad_timestamp', '`ts` must be epoch milliseconds or an RFC 3339 string');
  return reading(ctx, metric, value, unit, ts);
}

function jsonValue(v: unknown): ReadingValue | undefined {
  if (isScalar(v)) return scalar(v);
  if (isPlainObject(v) && isJsonLike(v, 0)) return v;
  return undefined;
}

function timestamp(v: unknown, now: number): number | undefined {
  if (v === undefined) return now;
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 && v <= 8.64e15 ? Math.round(v) : undefined;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

type Scalar = number | string | boolean;
function isScalar(v: unknown): v is Scalar {
  return typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean';
}
function scalar(v: Scalar): Scalar | undefined {
  return typeof v === 'number' && !Number.isFinite(v) ? undefined : v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Only values every sink can write as JSON: no binary, no BigInt, no CBOR tags, bounded depth. */
function isJsonLike(v: unknown, depth: number): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (depth >= MAX_OBJECT_DEPTH) return false;
  if (Array.isArray(v)) return v.every((x) => isJsonLike(x, depth + 1));
  return isPlainObject(v) && Object.values(v).every((x) => isJsonLike(x, depth + 1));
}

// SenML (RFC 8428). CBOR labels from §6 Table 6; JSON names from §4.1.
const SENML_LABELS: Readonly<Record<string, string>> = {
  '-1': 'bver',
  '-2': 'bn',
  '-3': 'bt',
  '-4': 'bu',
  '-5': 'bv',
  '-6': 'bs',
  '0': 'n',
  '1': 'u',
  '2': 'v',
  '3': 'vs',
  '4': 'vb',
  '5': 's',
  '6': 't',
  '7': 'ut',
  '8': 'vd',
};
/** RFC 8428 §4.5.1: name characters, and the first must be a letter or digit. */
const SENML_NAME = /^[A-Za-z0-9][A-Za-z0-9\-:./_]*$/;
/** RFC 8428 §4.5.3: times below 2**28 are relative to now, in seconds. */
const SENML_RELATIVE_LIMIT = 2 ** 28;
/** RFC 8428 §4.4: the version this decoder implements. */
const SENML_VERSION = 10;

export function senml(doc: unknown, ctx: DecodeContext, encoding: 'json' | 'cbor'): DecodeResult {
  // §4: a SenML Pack is an array of Records.
  if (!Array.isArray(doc)) return fail('bad_senml', 'a SenML pack is an array of records');
  if (doc.length === 0) return fail('bad_senml', 'empty SenML pack');
  if (doc.length > ctx.maxReadings)
    return fail(
      'too_many_readings',
      `${doc.length} SenML records (max_readings_per_message ${ctx.maxReadings})`,
    );
  let bn = '';
  let bt = 0;
  let bu: string | undefined;
  let bv = 0;
  let bs = 0;
  const out: Reading[] = [];
  for (const [i, item] of doc.entries()) {
    // cbor-x yields a Map for maps tagged 259 (explicit maps); untagged ones arrive as objects.
    const raw: unknown =
      item instanceof Map
        ? Object.fromEntries([...item].map(([k, v]: [unknown, unknown]) => [String(k), v]))
        : item;
    if (!isPlainObject(raw)) return fail('bad_senml', `record ${i} is not a map`);
    const rec: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) rec[encoding === 'cbor' ? (SENML_LABELS[k] ?? k) : k] = v;
    // §4.1: base fields apply to this record and every later one until replaced.
    if (rec.bver !== undefined && (typeof rec.bver !== 'number' || rec.bver > SENML_VERSION))
      return fail(
        'bad_senml',
        `unsupported SenML version ${typeof rec.bver === 'number' ? rec.bver : typeof rec.bver}`,
      );
    if (rec.bn !== undefined) {
      if (typeof rec.bn !== 'string') return fail('bad_senml', `record ${i}: bn is not a string`);
      bn = rec.bn;
    }
    if (rec.bt !== undefined) {
      if (!isFiniteNumber(rec.bt)) return fail('bad_senml', `record ${i}: bt is not a number`);
      bt = rec.bt;
    }
    if (rec.bu !== undefined) {
      if (typeof rec.bu !== 'string') return fail('bad_senml', `record ${i}: bu is not a string`);
      bu = rec.bu;
    }
    if (rec.bv !== undefined) {
      if (!isFiniteNumber(rec.bv)) return fail('bad_senml', `record ${i}: bv is not a number`);
      bv = rec.bv;
    }
    if (rec.bs !== undefined) {
      if (!isFiniteNumber(rec.bs)) return fail('bad_senml', `record ${i}: bs is not a number`);
      bs = rec.bs;
    }
    const hasValue = ['v', 'vs', 'vb', 'vd'].filter((k) => rec[k] !== undefined);
    if (hasValue.length === 0 && rec.s === undefined) {
      // §4.3: a record of base fields only carries no measurement.
      if (rec.n === undefined && rec.t === undefined && rec.u === undefined) continue;
      return fail('bad_senml', `record ${i} has no value and no sum`);
    }
    if (hasValue.length > 1) return fail('bad_senml', `record ${i} has more than one value field`);
    // §4.5.1: the resolved name is the concatenation of the base name and the name.
    if (rec.n !== undefined && typeof rec.n !== 'string')
      return fail('bad_senml', `record ${i}: n is not a string`);
    const name = bn + (rec.n ?? '');
    if (!SENML_NAME.test(name)) return fail('bad_senml', `record ${i}: invalid SenML name ${preview(name)}`);
    let value: ReadingValue;
    if (rec.v !== undefined) {
      if (!isFiniteNumber(rec.v)) return fail('bad_senml', `record ${i}: v is not a number`);
      value = bv + rec.v;
    } else if (rec.vs !== undefined) {
      if (typeof rec.vs !== 'string') return fail('bad_senml', `record ${i}: vs is not a string`);
      value = rec.vs;
    } else if (rec.vb !== undefined) {
      if (typeof rec.vb !== 'boolean') return fail('bad_senml', `record ${i}: vb is not a boolean`);
      value = rec.vb;
    } else if (rec.vd !== undefined) {
      // §4.3: vd is base64url in JSON, a byte string in CBOR; kept as base64url text either way.
      if (typeof rec.vd === 'string') value = rec.vd;
      else if (rec.vd instanceof Uint8Array) value = Buffer.from(rec.vd).toString('base64url');
      else return fail('bad_senml', `record ${i}: vd is not data`);
    } else {
      if (!isFiniteNumber(rec.s)) return fail('bad_senml', `record ${i}: s is not a number`);
      value = bs + rec.s;
    }
    if (rec.t !== undefined && !isFiniteNumber(rec.t))
      return fail('bad_senml', `record ${i}: t is not a number`);
    if (rec.u !== undefined && typeof rec.u !== 'string')
      return fail('bad_senml', `record ${i}: u is not a string`);
    const t = bt + (rec.t ?? 0);
    // §4.5.3: 0 is "now", below 2**28 relative to now, above absolute seconds since the epoch.
    const ts = t < SENML_RELATIVE_LIMIT ? ctx.now + Math.round(t * 1000) : Math.round(t * 1000);
    out.push(reading(ctx, name, value, rec.u ?? bu ?? ctx.unit, ts));
  }
  if (out.length === 0) return fail('bad_senml', 'SenML pack holds no measurement');
  return { ok: true, readings: out };
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
