// Schema pieces shared by the top-level config and by component schemas: sizes, durations, names, batching.
import { z } from 'zod';

// Decimal and binary units, as `df -H` and `df -h` print them; matched case-insensitively.
const UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  PB: 1e15,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  PiB: 1024 ** 5,
};
const UNIT_BY_NAME = new Map(Object.entries(UNITS).map(([u, n]) => [u.toUpperCase(), n]));
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i;

/** A byte count: a whole number, or a string with a unit (`512MiB`, `2GB`, `1TiB`). */
export const byteSize = z
  .union([
    z.number().int().positive(),
    z.string().superRefine((v, ctx) => {
      const m = SIZE_RE.exec(v);
      const unit = m?.[2]?.toUpperCase();
      if (m && unit !== undefined && UNIT_BY_NAME.has(unit)) return;
      ctx.addIssue({
        code: 'custom',
        message: m
          ? `unknown unit "${m[2] ?? ''}"; units: ${Object.keys(UNITS).join(', ')}`
          : `a size such as 1048576, "512MiB" or "2GB" (units: ${Object.keys(UNITS).join(', ')})`,
      });
    }),
  ])
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    const m = SIZE_RE.exec(v);
    const bytes = Math.round(Number(m?.[1]) * (UNIT_BY_NAME.get((m?.[2] ?? 'B').toUpperCase()) ?? 1));
    if (bytes < 1 || !Number.isSafeInteger(bytes)) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a usable byte count (1 B to 8 PiB)` });
      return z.NEVER;
    }
    return bytes;
  });

export const durationMs = z.number().int().nonnegative();

/** What `sluice check` and `run` say about a file option before anything starts (see host-checks.ts). */
export interface ConfigFileInfo {
  /** Names the file for the operator: `TLS certificate`, `password file`... */
  readonly what: string;
  /** What to do when the file does not exist (`create it with sluice passwd ...`). */
  readonly missingHint?: string;
}

/** Every option that names a file Sluice reads; host-checks.ts finds them by walking the schema. */
export const configFiles = z.registry<ConfigFileInfo>();

/** An option naming a file Sluice reads at start (certificate, key, password or token file). */
export function configFile(description: string, info: ConfigFileInfo): z.ZodString {
  const schema = z.string().min(1).describe(description);
  configFiles.add(schema, info);
  return schema;
}

/** Component and gateway ids: safe in file names, metric labels, MQTT topics and Kafka headers. */
export const componentName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, `_`, `.`, `-` (max 64)');

/**
 * Jittered exponential backoff, with a component's own defaults: a config that sets some fields gets the
 * component's defaults for the others (a prefault of the shared schema would give the shared ones).
 */
export function backoffSchemaWith(d: { initial_ms?: number; max_ms?: number } = {}) {
  return z
    .strictObject({
      initial_ms: durationMs
        .min(1)
        .default(d.initial_ms ?? 200)
        .describe('First retry delay.'),
      max_ms: durationMs
        .min(1)
        .default(d.max_ms ?? 30_000)
        .describe('Longest retry delay.'),
      multiplier: z.number().min(1).default(2),
    })
    .refine((b) => b.initial_ms <= b.max_ms, {
      message: 'cannot exceed max_ms (the longest delay)',
      path: ['initial_ms'],
    })
    .describe('Jittered exponential backoff between retries.');
}

export const backoffSchema = backoffSchemaWith();

/** How a sink groups readings into upstream requests, with the sink's own defaults (see backoffSchemaWith). */
export function batchSchemaWith(d: { max_count?: number; max_bytes?: number } = {}) {
  return z
    .strictObject({
      max_count: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .default(d.max_count ?? 500)
        .describe('Most readings per upstream batch.'),
      max_bytes: byteSize
        .default(d.max_bytes ?? 1024 * 1024)
        .describe('Most encoded queue bytes per upstream batch.'),
      linger_ms: durationMs.default(200).describe('How long to wait for a batch to fill before sending it.'),
    })
    .describe('How the sink groups queued readings into upstream requests.');
}

export const batchSchema = batchSchemaWith();

/** Options every sink has, merged into each sink's own schema. */
export const sinkCommon = {
  start_from: z
    .enum(['tail', 'oldest'])
    .default('tail')
    .describe('Where a new sink (no cursor yet) starts: new readings only, or everything still queued.'),
  batch: batchSchema.prefault({}),
  retry: backoffSchema.prefault({}),
};
