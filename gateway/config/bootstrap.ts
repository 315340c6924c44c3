// The local file of a fleet-managed gateway: today's config file, whose optional `fleet:` section
// (bootstrap-schema.ts) makes it fleet-managed. Its `gateway:`, `observe:` and `fleet:` parts are the
// bootstrap that only a local edit changes; its pipeline part (queue, log, shutdown_timeout_ms, sources,
// sinks) is the base that a signed bundle's pipeline is merged over.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { SluiceError, errorMessage } from '../errors.js';
import type { FleetConfig } from './bootstrap-schema.js';
import { ConfigError, parseConfig, validateConfig } from './load.js';
import { configSchema, type Config } from './schema.js';

/** What a bundle may change: picked from configSchema, so the schema stays the one source of truth. */
export const pipelineSchema = configSchema.pick({
  queue: true,
  log: true,
  shutdown_timeout_ms: true,
  sources: true,
  sinks: true,
});
export const PIPELINE_KEYS: readonly string[] = Object.keys(pipelineSchema.shape);

/** A pipeline as written (before defaults): what bundles carry and what is merged. */
export type PipelineInput = Readonly<Record<string, unknown>>;

export interface LocalConfig {
  readonly file: string;
  /** The local file alone, validated and frozen. */
  readonly config: Config;
  /** The file as written: the base a bundle's pipeline keys are merged over. */
  readonly base: PipelineInput;
  readonly fleet: FleetConfig | undefined;
  /** Everything but the pipeline (gateway, fleet, observe...) as a canonical string: changing it needs a restart. */
  readonly bootstrapKey: string;
}

export function loadLocalConfig(path: string): LocalConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SluiceError('SLUICE_CONFIG_READ', `cannot read config file ${path}: ${errorMessage(err)}`, {
      hint: 'pass an existing file with -c; deploy/config/ has examples',
      cause: err,
    });
  }
  return parseLocalConfig(text, path);
}

export function parseLocalConfig(text: string, path = '<config>'): LocalConfig {
  const config = parseConfig(text, path); // every problem, with its line
  // The base is the file as written, not the validated output: a bundle is merged over what the operator
  // wrote, and the merge is validated once, like the file was.
  const raw = (parseYaml(text) ?? {}) as Record<string, unknown>;
  const fixed = Object.entries(config).filter(([k]) => !PIPELINE_KEYS.includes(k));
  return {
    file: path,
    config,
    base: raw,
    fleet: config.fleet,
    bootstrapKey: canonicalJson(Object.fromEntries(fixed)),
  };
}

/**
 * The config a gateway runs: the local pipeline with each key a bundle carries replacing the local one
 * (whole keys, so that a bundle can remove a source). Throws ConfigError naming `origin`.
 */
export function mergePipeline(local: LocalConfig, patch: PipelineInput | undefined, origin: string): Config {
  const foreign = Object.keys(patch ?? {}).filter((k) => !PIPELINE_KEYS.includes(k));
  if (foreign.length > 0) {
    throw new ConfigError(
      origin,
      foreign.map((k) => ({
        path: k,
        line: undefined,
        message: `"${k}" cannot be pushed; a bundle carries only ${PIPELINE_KEYS.join(', ')}`,
      })),
    );
  }
  return validateConfig({ ...local.base, ...patch }, origin);
}

/** JSON with object keys sorted: equal values give equal strings (config diffs, bootstrap changes). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
