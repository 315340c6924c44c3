// Schema pieces shared by the top-level config and by component schemas: sizes, durations, names, batching.
import { z } from 'zod';

const UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KIB: 1024,
  MIB: 1024 ** 2,
  GIB: 1024 ** 3,
};

/** A byte count: a whole number, or a string with a unit (`512MiB`, `2GB`). */
export const byteSize = z
  .union([
    z.number().int().positive(),
    z
      .string()
      .regex(/^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$/i, 'a size such as 1048576, "512MiB" or "2GB"'),
  ])
  .transform((v) => {
    if (typeof v === 'number') return v;
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(v);
    return Math.round(Number(m?.[1]) * (UNITS[(m?.[2] ?? 'B').toUpperCase()] ?? 1));
  });

export const durationMs = z.number().int().nonnegative();

/** Component and gateway ids: safe in file names, metric labels, MQTT topics and Kafka headers. */
export const componentName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, `_`, `.`, `-` (max 64)');

export const backoffSchema = z
  .strictObject({
    initial_ms: durationMs.min(1).default(200).describe('First retry delay.'),
    max_ms: durationMs.min(1).default(30_000).describe('Longest retry delay.'),
    multiplier: z.number().min(1).default(2),
  })
  .describe('Jittered exponential backoff between retries.');

export const batchSchema = z
  .strictObject({
    max_count: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(500)
      .describe('Most readings per upstream batch.'),
    max_bytes: byteSize.default(1024 * 1024).describe('Most encoded queue bytes per upstream batch.'),
    linger_ms: durationMs.default(200).describe('How long to wait for a batch to fill before sending it.'),
  })
  .describe('How the sink groups queued readings into upstream requests.');

/** Options every sink has, merged into each sink's own schema. */
export const sinkCommon = {
  start_from: z
    .enum(['tail', 'oldest'])
    .default('tail')
    .describe('Where a new sink (no cursor yet) starts: new readings only, or everything still queued.'),
  batch: batchSchema.prefault({}),
  retry: backoffSchema.prefault({}),
};
