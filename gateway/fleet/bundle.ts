// Signed config bundles: format, Ed25519 signing and verification, and the checks a gateway makes before it
// applies one. The signature covers the exact payload bytes, carried as base64, so no JSON re-serialization
// (key order, number formatting) can ever change what was signed.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { PipelineInput } from '../config/bootstrap.js';
import type { FleetConfig } from '../config/bootstrap-schema.js';
import { componentName } from '../config/common.js';
import { SluiceError, errorMessage } from '../errors.js';

export const BUNDLE_FORMAT = 'sluice-bundle/1';

export const envelopeSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  key_id: componentName.describe('Id of the operator key that signed the payload.'),
  payload: z.base64().describe('The payload JSON, as the exact bytes that were signed.'),
  signature: z.base64().describe('Ed25519 signature of `sluice-bundle/1\\n` followed by the payload bytes.'),
});

export const targetSchema = z
  .strictObject({
    gateways: z.array(componentName).default([]).describe('Gateway ids this bundle is for.'),
    labels: z
      .array(componentName)
      .default([])
      .describe('Label selector: gateways holding every one of these labels.'),
  })
  .refine((t) => t.gateways.length > 0 || t.labels.length > 0, {
    message: 'a target needs gateways or labels',
  });

export const payloadSchema = z.strictObject({
  version: z
    .number()
    .int()
    .positive()
    .describe('Increases with every bundle; a gateway never applies one not above its highest.'),
  issued_at_ms: z.number().int().nonnegative().describe('When it was signed (epoch ms).'),
  expires_at_ms: z.number().int().positive().describe('Refused after this time (epoch ms).'),
  target: targetSchema,
  config: z
    .record(z.string(), z.unknown())
    .describe('Pipeline config: any of queue, log, shutdown_timeout_ms, sources, sinks.'),
  note: z.string().max(1000).optional().describe('Free text for operators (change ticket, reason).'),
});

export type BundlePayload = z.output<typeof payloadSchema>;
export type BundlePayloadInput = z.input<typeof payloadSchema>;

/** Every reason a bundle is refused, reported as is in the gateway's status. */
export type RejectReason =
  | 'malformed'
  | 'too_large'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'stale_version'
  | 'wrong_target'
  | 'invalid_config';

export class BundleRejected extends SluiceError {
  constructor(
    readonly reason: RejectReason,
    message: string,
    readonly version?: number,
  ) {
    super('SLUICE_FLEET_REJECTED', `${reason}: ${message}`, { hint: HINTS[reason] });
  }
}

const HINTS: Record<RejectReason, string> = {
  malformed: 'push a bundle made by `sluice fleet sign`',
  too_large:
    'split the pipeline or shrink it; fleet.max_bundle_bytes in the local file raises the limit if it must',
  unknown_key: "add the operator's public key to fleet.trusted_keys in the gateway's local file",
  bad_signature: 'the bundle was altered or signed with another key; sign it again',
  expired: 'sign it again with a later expiry',
  not_yet_valid: "check the operator's and the gateway's clocks",
  stale_version: 'sign it again with a version above the one the gateway reports',
  wrong_target: "check the bundle's target against the gateway id and labels",
  invalid_config: 'run `sluice check` on the merged config; the message lists every problem',
};

export interface VerifiedBundle {
  readonly keyId: string;
  readonly payload: BundlePayload;
  /** sha256 of the payload bytes: names this exact bundle in the store and in logs. */
  readonly digest: string;
}

function signedBytes(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${BUNDLE_FORMAT}\n`), payload]);
}

/** Signs a payload; returns the bundle as JSON text, ready to publish. */
export function signBundle(payload: BundlePayloadInput, privateKey: KeyObject, keyId: string): string {
  const checked = payloadSchema.safeParse(payload);
  if (!checked.success)
    throw new SluiceError('SLUICE_USAGE', `not a valid bundle payload: ${checked.error.message}`);
  const bytes = Buffer.from(JSON.stringify(checked.data));
  const signature = sign(null, signedBytes(bytes), privateKey);
  return JSON.stringify({
    format: BUNDLE_FORMAT,
    key_id: keyId,
    payload: bytes.toString('base64'),
    signature: signature.toString('base64'),
  });
}

/** Checks format and signature; throws BundleRejected (malformed, unknown_key, bad_signature). */
export function verifyBundle(text: string, keys: ReadonlyMap<string, KeyObject>): VerifiedBundle {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BundleRejected('malformed', `not JSON: ${errorMessage(err)}`);
  }
  const env = envelopeSchema.safeParse(json);
  if (!env.success) throw new BundleRejected('malformed', z.prettifyError(env.error).replace(/\n/g, ' '));
  const key = keys.get(env.data.key_id);
  if (!key) throw new BundleRejected('unknown_key', `key "${env.data.key_id}" is not trusted here`);
  const bytes = Buffer.from(env.data.payload, 'base64');
  if (!verify(null, signedBytes(bytes), key, Buffer.from(env.data.signature, 'base64')))
    throw new BundleRejected('bad_signature', `signature does not match key "${env.data.key_id}"`);
  let payloadJson: unknown;
  try {
    payloadJson = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new BundleRejected('malformed', `payload is not JSON: ${errorMessage(err)}`);
  }
  const payload = payloadSchema.safeParse(payloadJson);
  if (!payload.success)
    throw new BundleRejected('malformed', z.prettifyError(payload.error).replace(/\n/g, ' '));
  return {
    keyId: env.data.key_id,
    payload: payload.data,
    digest: createHash('sha256').update(bytes).digest('hex'),
  };
}

export interface BundleContext {
  readonly gatewayId: string;
  readonly labels: readonly string[];
  /** Highest version this gateway ever accepted for apply (persisted: anti-rollback). */
  readonly highestVersion: number;
  readonly now: number;
  readonly maxClockSkewMs: number;
}

export function targets(payload: BundlePayload, gatewayId: string, labels: readonly string[]): boolean {
  const { gateways, labels: selector } = payload.target;
  return gateways.includes(gatewayId) || (selector.length > 0 && selector.every((l) => labels.includes(l)));
}

/** Throws BundleRejected (wrong_target, expired, not_yet_valid, stale_version) when it is not for now and here. */
export function checkBundle(b: VerifiedBundle, ctx: BundleContext): void {
  const p = b.payload;
  const v = p.version;
  if (!targets(p, ctx.gatewayId, ctx.labels))
    throw new BundleRejected(
      'wrong_target',
      `targets ${JSON.stringify(p.target)}, this is ${ctx.gatewayId} [${ctx.labels.join(', ')}]`,
      v,
    );
  if (p.expires_at_ms <= ctx.now)
    throw new BundleRejected('expired', `expired at ${new Date(p.expires_at_ms).toISOString()}`, v);
  if (p.issued_at_ms > ctx.now + ctx.maxClockSkewMs)
    throw new BundleRejected('not_yet_valid', `issued at ${new Date(p.issued_at_ms).toISOString()}`, v);
  if (v <= ctx.highestVersion)
    throw new BundleRejected('stale_version', `version ${v} is not above ${ctx.highestVersion}`, v);
}

/** The pipeline a verified bundle carries. */
export function pipelineOf(b: VerifiedBundle): PipelineInput {
  return b.payload.config;
}

/** Loads fleet.trusted_keys; every key must be an Ed25519 public key. */
export function loadTrustedKeys(fleet: FleetConfig): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const k of fleet.trusted_keys) {
    const where = k.public_key_file ?? `fleet.trusted_keys[${k.id}].public_key`;
    let key: KeyObject;
    try {
      const pem = k.public_key ?? readFileSync(k.public_key_file ?? '', 'utf8');
      key = createPublicKey(pem);
    } catch (err) {
      throw new SluiceError('SLUICE_CONFIG_READ', `cannot read public key ${where}: ${errorMessage(err)}`, {
        hint: '`sluice fleet keygen` writes a key pair; give the gateway the .pub file',
        cause: err,
      });
    }
    if (key.asymmetricKeyType !== 'ed25519')
      throw new SluiceError(
        'SLUICE_CONFIG_INVALID',
        `${where} is a ${key.asymmetricKeyType} key, not Ed25519`,
      );
    keys.set(k.id, key);
  }
  return keys;
}

/** Reads an operator's private key (PEM PKCS#8) for signing. */
export function loadPrivateKey(path: string): KeyObject {
  try {
    const key = createPrivateKey(readFileSync(path, 'utf8'));
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key, not Ed25519`);
    return key;
  } catch (err) {
    throw new SluiceError('SLUICE_CONFIG_READ', `cannot read private key ${path}: ${errorMessage(err)}`, {
      hint: '`sluice fleet keygen` writes one',
      cause: err,
    });
  }
}
