// Shared pieces of the fleet tests: operator keys, local files, signed bundles, waiting, reading file sinks.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { signBundle, type BundlePayloadInput } from '../../gateway/fleet/bundle.js';

export interface Operator {
  readonly keyId: string;
  readonly privateKey: KeyObject;
  readonly publicPem: string;
}

export function operator(keyId = 'ops'): Operator {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyId, privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

export interface LocalOptions {
  readonly id: string;
  readonly dir: string;
  readonly op: Operator;
  readonly labels?: readonly string[];
  readonly mqttUrl?: string;
  readonly httpUrl?: string;
  readonly graceMs?: number;
  readonly maxBootAttempts?: number;
  /** Pipeline of the local file (defaults: one slow simulator, one file sink in dir/out). */
  readonly pipeline?: Record<string, unknown>;
}

export function sim(intervalMs = 20, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'simulator', devices: 2, interval_ms: intervalMs, ...extra };
}

export function fileSink(path: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'file',
    path,
    start_from: 'oldest',
    roll_interval_ms: 100,
    batch: { linger_ms: 5 },
    ...extra,
  };
}

/** Writes `<dir>/sluice.yaml` and returns its path. */
export function writeLocal(o: LocalOptions): string {
  const doc = {
    gateway: { id: o.id, data_dir: join(o.dir, 'data') },
    log: { level: 'silent' },
    observe: { http: { enabled: false } },
    shutdown_timeout_ms: 5000,
    ...(o.pipeline ?? { sources: { sim: sim() }, sinks: { out: fileSink(join(o.dir, 'out')) } }),
    fleet: {
      labels: o.labels ?? [],
      trusted_keys: [{ id: o.op.keyId, public_key: o.op.publicPem }],
      health_grace_ms: o.graceMs ?? 300,
      max_boot_attempts: o.maxBootAttempts ?? 3,
      ...(o.mqttUrl
        ? { mqtt: { url: o.mqttUrl, heartbeat_interval_ms: 500, reconnect_period_ms: 200 } }
        : {}),
      ...(o.httpUrl ? { http: { url: o.httpUrl, poll_interval_ms: 100 } } : {}),
    },
  };
  const file = join(o.dir, 'sluice.yaml');
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(file, stringify(doc));
  return file;
}

export function bundle(op: Operator, p: Partial<BundlePayloadInput> & { version: number }): string {
  const now = Date.now();
  return signBundle(
    {
      issued_at_ms: now,
      expires_at_ms: now + 3_600_000,
      target: { labels: ['all'] },
      config: {},
      ...p,
    },
    op.privateKey,
    op.keyId,
  );
}

/** Sequence numbers of every reading in the final files of a file sink directory. */
export function sinkSeqs(dir: string): number[] {
  const seqs: number[] = [];
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl') && !n.startsWith('.'))
    .sort()) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line === '') continue;
      const rec = JSON.parse(line) as { seq?: number; id?: string };
      seqs.push(rec.seq ?? Number(rec.id?.split(':').pop()));
    }
  }
  return seqs;
}
