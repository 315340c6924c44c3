// Bundles: the signature covers the exact payload bytes, and each way a bundle can be wrong has its reason.
import { createPublicKey } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadLocalConfig, mergePipeline, parseLocalConfig } from '../../gateway/config/bootstrap.js';
import { ConfigError } from '../../gateway/config/load.js';
import {
  BundleRejected,
  checkBundle,
  verifyBundle,
  type BundleContext,
  type RejectReason,
} from '../../gateway/fleet/bundle.js';
import { bundle, operator } from './helpers.js';

const op = operator('ops');
const keys = new Map([[op.keyId, createPublicKey(op.publicPem)]]);

const ctx: BundleContext = {
  gatewayId: 'gw-1',
  labels: ['all', 'paris'],
  highestVersion: 4,
  now: Date.now(),
  maxClockSkewMs: 60_000,
};

function reasonOf(fn: () => unknown): RejectReason | 'accepted' {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    if (err instanceof BundleRejected) {
      expect(err.code).toBe('SLUICE_FLEET_REJECTED');
      expect(err.message.startsWith(`${err.reason}: `)).toBe(true);
      return err.reason;
    }
    throw err;
  }
}

const full =
  (text: string, c: BundleContext = ctx) =>
  () =>
    checkBundle(verifyBundle(text, keys), c);

describe('verify and check', () => {
  test('a signed bundle verifies and carries its payload unchanged', () => {
    const text = bundle(op, { version: 5, config: { log: { level: 'debug' } }, note: 'é ✓' });
    const b = verifyBundle(text, keys);
    expect(b.payload).toMatchObject({ version: 5, config: { log: { level: 'debug' } }, note: 'é ✓' });
    expect(b.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(reasonOf(full(text))).toBe('accepted');
  });

  test('the signature covers the payload bytes: re-serializing them differently breaks it', () => {
    const env = JSON.parse(bundle(op, { version: 5 })) as { payload: string };
    const json = Buffer.from(env.payload, 'base64').toString();
    const pretty = JSON.stringify(JSON.parse(json), null, 1); // same object, other bytes
    const forged = JSON.stringify({ ...env, payload: Buffer.from(pretty).toString('base64') });
    expect(reasonOf(full(forged))).toBe('bad_signature');
  });

  test('a bundle with one byte changed is refused: bad_signature', () => {
    const env = JSON.parse(bundle(op, { version: 5 })) as { payload: string };
    const bytes = Buffer.from(env.payload, 'base64');
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    expect(reasonOf(full(JSON.stringify({ ...env, payload: bytes.toString('base64') })))).toMatch(
      /bad_signature/,
    );
  });

  test('signed by another key under a trusted id: bad_signature; by an untrusted id: unknown_key', () => {
    const mallory = operator('ops');
    expect(reasonOf(full(bundle(mallory, { version: 5 })))).toBe('bad_signature');
    expect(reasonOf(full(bundle(operator('stranger'), { version: 5 })))).toBe('unknown_key');
  });

  test('expired, issued in the future, stale version, other target', () => {
    expect(reasonOf(full(bundle(op, { version: 5, expires_at_ms: ctx.now - 1 })))).toBe('expired');
    expect(reasonOf(full(bundle(op, { version: 5, issued_at_ms: ctx.now + 3_600_000 })))).toBe(
      'not_yet_valid',
    );
    expect(reasonOf(full(bundle(op, { version: 4 })))).toBe('stale_version');
    expect(reasonOf(full(bundle(op, { version: 5, target: { gateways: ['gw-2'] } })))).toBe('wrong_target');
    expect(reasonOf(full(bundle(op, { version: 5, target: { labels: ['all', 'lyon'] } })))).toBe(
      'wrong_target',
    );
    expect(reasonOf(full(bundle(op, { version: 5, target: { gateways: ['gw-1'] } })))).toBe('accepted');
  });

  test('not JSON, wrong format, payload missing fields: malformed', () => {
    expect(reasonOf(full('not json'))).toBe('malformed');
    expect(reasonOf(full(JSON.stringify({ format: 'other' })))).toBe('malformed');
  });
});

describe('merging a bundle over the local file', () => {
  const local = parseLocalConfig(
    [
      'gateway: { id: gw-1, data_dir: /tmp/x }',
      'queue: { max_bytes: 1MiB }',
      'sources: { sim: { type: simulator } }',
      'sinks: { out: { type: file, path: /tmp/x/out } }',
      'fleet: { labels: [all], trusted_keys: [{ id: ops, public_key: "x" }] }',
    ].join('\n'),
    'local.yaml',
  );

  test('keys in the bundle replace the local ones whole; the others stay', () => {
    const c = mergePipeline(local, { sources: {} }, 'bundle v5');
    expect(c.sources).toEqual({});
    expect(c.sinks.out?.type).toBe('file');
    expect(c.queue.max_bytes).toBe(1024 * 1024);
    expect(c.gateway.id).toBe('gw-1');
  });

  test('a pipeline the schema refuses, or a key outside the pipeline: ConfigError naming the bundle', () => {
    const bad = () => mergePipeline(local, { sinks: { out: { type: 'file' } } }, 'bundle v5');
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/bundle v5.*sinks\.out\.path/s);
    expect(() => mergePipeline(local, { gateway: { id: 'evil' } }, 'bundle v5')).toThrow(/cannot be pushed/);
    expect(() => mergePipeline(local, { fleet: {} }, 'bundle v5')).toThrow(/cannot be pushed/);
  });
});

test('the example deploy/config/fleet-managed.yaml is a valid local file', () => {
  const local = loadLocalConfig(
    fileURLToPath(new URL('../../deploy/config/fleet-managed.yaml', import.meta.url)),
  );
  expect(local.fleet).toMatchObject({ labels: ['site-lyon', 'canary'], trusted_keys: [{ id: 'ops' }] });
  expect(local.config.gateway.id).toBe('lyon-gw-01');
});
