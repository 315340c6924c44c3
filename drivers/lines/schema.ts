// Options of the `lines` driver: the framing (delimiter, bound) and one tagged format per line syntax.
import { z } from 'zod';

/** Names a regex format gives special meaning to; every other named group is a metric. */
export const RESERVED_GROUPS = ['device', 'ts', 'metric', 'value', 'unit'] as const;

const jsonFormat = z.strictObject({
  type: z.literal('json'),
  /** Key holding the device label; removed from the metrics of an object-of-metrics line. */
  device_key: z.string().min(1).default('device'),
  timestamp_key: z.string().min(1).default('ts'),
  /** A line with both `metric_key` and `value_key` is one reading; otherwise every other key is a metric. */
  metric_key: z.string().min(1).default('metric'),
  value_key: z.string().min(1).default('value'),
  unit_key: z.string().min(1).default('unit'),
});

const csvFormat = z
  .strictObject({
    type: z.literal('csv'),
    separator: z.string().length(1).default(','),
    /** Column names; when absent, the first line is the header. A line repeating the header is skipped. */
    columns: z.array(z.string().max(256)).min(1).max(1024).optional(),
    device_column: z.string().min(1).optional(),
    timestamp_column: z.string().min(1).optional(),
  })
  .superRefine((f, ctx) => {
    for (const key of ['device_column', 'timestamp_column'] as const) {
      const col = f[key];
      if (col !== undefined && f.columns !== undefined && !f.columns.includes(col)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `"${col}" is not one of columns` });
      }
    }
  });

const kvFormat = z.strictObject({
  type: z.literal('kv'),
  /** Between pairs; runs of it are one separator (`temp=21.5  hum=40`). */
  pair_separator: z.string().min(1).default(' '),
  kv_separator: z.string().min(1).default('='),
  device_key: z.string().min(1).default('device'),
  timestamp_key: z.string().min(1).default('ts'),
});

const regexFormat = z
  .strictObject({
    type: z.literal('regex'),
    /** Named groups: `value` (+ `metric` group or option) makes one reading; else each group is a metric. */
    pattern: z.string().min(1),
    case_insensitive: z.boolean().default(false),
    /** Metric name when the pattern has a `value` group but no `metric` group. */
    metric: z.string().min(1).optional(),
  })
  .superRefine((f, ctx) => {
    const groups = namedGroups(f.pattern);
    if (groups === undefined) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'is not a valid regular expression' });
      return;
    }
    const reserved: readonly string[] = RESERVED_GROUPS;
    if (groups.includes('value')) {
      if (!groups.includes('metric') && f.metric === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['metric'],
          message: 'needed: the pattern has no (?<metric>) group',
        });
      }
    } else if (!groups.some((g) => !reserved.includes(g))) {
      ctx.addIssue({
        code: 'custom',
        path: ['pattern'],
        message: 'has no (?<value>) group nor any metric group',
      });
    }
  });

/** The named groups of a pattern, or undefined when it does not compile. */
export function namedGroups(pattern: string): string[] | undefined {
  try {
    new RegExp(pattern);
  } catch {
    return undefined;
  }
  return [...pattern.matchAll(/\(\?<([A-Za-z_$][\w$]*)>/g)].map((m) => m[1] ?? '');
}

export const formatSchema = z.discriminatedUnion('type', [jsonFormat, csvFormat, kvFormat, regexFormat]);

export const schema = z.strictObject({
  type: z.literal('lines'),
  format: formatSchema.prefault({ type: 'json' }),
  /** Line terminator; a CR before it is dropped, so the default also reads CRLF lines. */
  delimiter: z.string().min(1).max(8).default('\n'),
  /** Longest accepted line, delimiter excluded; longer lines are counted as `line_too_long` and skipped. */
  max_line_bytes: z.number().int().min(1).max(1_048_576).default(4096),
  /** Unit of numeric timestamps; strings are parsed as ISO 8601. */
  timestamp_unit: z.enum(['ms', 's']).default('ms'),
  /** Unit per metric, for lines that do not carry one. */
  units: z
    .record(z.string().max(256), z.string().max(64))
    .refine((u) => Object.keys(u).length <= 1024, { message: 'at most 1024 metrics' })
    .default({}),
});

export type LinesOptions = z.output<typeof schema>;
export type LinesFormat = z.output<typeof formatSchema>;
