// Topic rules: which MQTT topics become readings, with which device, metric and payload decoder. Shared by the
// embedded broker and the `mqtt` client source; pure (no sockets), so it is tested on its own.
import { z } from 'zod';
import { byteSize } from '../../config/common.js';
import type { Reading } from '../../reading.js';
import { DECODERS, decode, type DecoderName } from './decoders.js';

const LEVEL_VAR = /^\{([a-z_][a-z0-9_]*)\}$/;

export const topicRuleSchema = z
  .strictObject({
    topic: z
      .string()
      .min(1)
      .superRefine((t, ctx) => {
        const error = compileOrError(t);
        if (error !== undefined) ctx.addIssue({ code: 'custom', message: error });
      })
      .describe(
        'Topic pattern, e.g. `sensors/{device}/{metric}`: literal levels, `{device}`, `{metric}` or `{tag_name}` (one level each, captured), `+` (one level), and a final `#`.',
      ),
    decoder: z
      .enum(DECODERS)
      .default('json')
      .describe('Payload format: number, string, json, cbor, senml_json or senml_cbor (RFC 8428).'),
    metric: z
      .string()
      .min(1)
      .optional()
      .describe('Metric of bare-value payloads when the pattern has no `{metric}`.'),
    unit: z.string().min(1).optional().describe('Unit given to readings whose payload names none.'),
  })
  .describe('Maps matching topics to readings. Without `{device}` the device is the MQTT client id.');

export const mappingOptions = {
  topics: z
    .array(topicRuleSchema)
    .default([{ topic: 'sensors/{device}/{metric}', decoder: 'json' }])
    .describe('Topic rules, tried in order; the first match decides.'),
  unmatched: z
    .enum(['pass', 'store_raw'])
    .default('pass')
    .describe(
      'Messages on topics no rule matches: `pass` (delivered to subscribers, not stored) or `store_raw` (also stored, metric = topic, value = payload text or base64).',
    ),
  max_payload_bytes: byteSize
    .default(65_536)
    .describe('Largest payload decoded; larger ones are rejected (reason `too_large`).'),
  max_readings_per_message: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(1000)
    .describe('Most readings one message may carry.'),
};

export type TopicRule = z.output<typeof topicRuleSchema>;
export interface MappingConfig {
  readonly topics: readonly TopicRule[];
  readonly unmatched: 'pass' | 'store_raw';
  readonly max_payload_bytes: number;
  readonly max_readings_per_message: number;
}

type Level =
  { kind: 'literal'; text: string } | { kind: 'var'; name: string } | { kind: 'plus' } | { kind: 'hash' };

interface CompiledRule {
  readonly levels: readonly Level[];
  readonly decoder: DecoderName;
  readonly metric: string | undefined;
  readonly unit: string | undefined;
}

/** What to do with one message. */
export type MapResult =
  | { readonly kind: 'readings'; readonly device: string; readonly readings: Reading[] }
  | { readonly kind: 'rejected'; readonly device: string; readonly reason: string; readonly detail: string }
  | { readonly kind: 'unmatched' };

function compileOrError(pattern: string): string | undefined {
  try {
    compile(pattern);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function compile(pattern: string): Level[] {
  const parts = pattern.split('/');
  const seen = new Set<string>();
  return parts.map((p, i): Level => {
    if (p === '#') {
      if (i !== parts.length - 1) throw new Error(`\`#\` must be the last level of ${pattern}`);
      return { kind: 'hash' };
    }
    if (p === '+') return { kind: 'plus' };
    const v = LEVEL_VAR.exec(p);
    if (v?.[1] !== undefined) {
      if (seen.has(v[1])) throw new Error(`{${v[1]}} appears twice in ${pattern}`);
      seen.add(v[1]);
      return { kind: 'var', name: v[1] };
    }
    if (/[{}+#]/.test(p))
      throw new Error(`level "${p}" of ${pattern}: use {name} (lowercase), + or a final #`);
    return { kind: 'literal', text: p };
  });
}

/** Captures of `topic` against `levels`, or undefined when it does not match (MQTT filter semantics). */
function match(levels: readonly Level[], topic: string): Map<string, string> | undefined {
  const parts = topic.split('/');
  // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match topics starting with `$`.
  if (topic.startsWith('$') && levels[0]?.kind !== 'literal') return undefined;
  const vars = new Map<string, string>();
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as Level;
    if (l.kind === 'hash') return vars;
    const part = parts[i];
    if (part === undefined) return undefined;
    if (l.kind === 'literal' && l.text !== part) return undefined;
    if (l.kind === 'var') vars.set(l.name, part);
  }
  return parts.length === levels.length ? vars : undefined;
}

export class TopicMapper {
  private readonly rules: CompiledRule[];

  constructor(
    private readonly config: MappingConfig,
    private readonly source: string,
  ) {
    this.rules = config.topics.map((r) => ({
      levels: compile(r.topic),
      decoder: r.decoder,
      metric: r.metric,
      unit: r.unit,
    }));
  }

  /** Readings of one message; `clientId` is the device when the rule does not capture one. */
  map(topic: string, payload: Uint8Array, clientId: string | undefined, now = Date.now()): MapResult {
    for (const rule of this.rules) {
      const vars = match(rule.levels, topic);
      if (vars === undefined) continue;
      const device = vars.get('device') ?? clientId ?? '';
      if (device === '')
        return {
          kind: 'rejected',
          device: '-',
          reason: 'no_device',
          detail: `topic ${topic} names no device`,
        };
      const tooLarge = this.tooLarge(payload, device);
      if (tooLarge) return tooLarge;
      const metric = vars.get('metric') ?? rule.metric;
      if (metric === '')
        return {
          kind: 'rejected',
          device,
          reason: 'no_metric',
          detail: `topic ${topic} has an empty metric level`,
        };
      let tags: Record<string, string> | undefined;
      for (const [k, v] of vars) {
        if (k === 'device' || k === 'metric') continue;
        (tags ??= {})[k] = v;
      }
      const result = decode(rule.decoder, payload, {
        device,
        metric,
        unit: rule.unit,
        tags,
        source: this.source,
        now,
        maxReadings: this.config.max_readings_per_message,
      });
      return result.ok
        ? { kind: 'readings', device, readings: result.readings }
        : { kind: 'rejected', device, reason: result.reason, detail: result.detail };
    }
    if (this.config.unmatched === 'pass') return { kind: 'unmatched' };
    const device = clientId ?? 'unknown';
    const tooLarge = this.tooLarge(payload, device);
    if (tooLarge) return tooLarge;
    return { kind: 'readings', device, readings: [raw(topic, payload, device, this.source, now)] };
  }

  /** The rejection of a payload over max_payload_bytes, matched or stored raw. */
  private tooLarge(payload: Uint8Array, device: string): MapResult | undefined {
    const max = this.config.max_payload_bytes;
    if (payload.length <= max) return undefined;
    return {
      kind: 'rejected',
      device,
      reason: 'too_large',
      detail: `${payload.length} bytes > max_payload_bytes ${max}`,
    };
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** `unmatched: store_raw`: the payload as text when it is UTF-8, else base64, tagged with the encoding. */
function raw(topic: string, payload: Uint8Array, device: string, source: string, now: number): Reading {
  let value: string;
  let encoding: string;
  try {
    value = strictUtf8.decode(payload);
    encoding = 'utf8';
  } catch {
    value = Buffer.from(payload).toString('base64');
    encoding = 'base64';
  }
  return { device, metric: topic, value, ts: now, source, tags: { encoding } };
}
