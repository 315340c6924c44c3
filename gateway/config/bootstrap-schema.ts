// The `fleet:` section of the local file: trusted operator keys, the channels bundles arrive on, and the health
// gate. Part of configSchema (optional), so `sluice check` and `sluice config schema` cover it; a bundle can
// never change it (see bootstrap.ts).
import { z } from 'zod';
import { byteSize, componentName, configFile, durationMs } from './common.js';
import { credentialFields, credentialProblems } from './credentials.js';
import { tlsClientSchema } from './tls.js';

const trustedKeySchema = z
  .strictObject({
    id: componentName.describe('Key id; a bundle names the key that signed it in `key_id`.'),
    public_key_file: configFile('PEM (SPKI) Ed25519 public key written by `sluice fleet keygen`.', {
      what: 'operator public key',
      missingHint: 'copy the .pub file that `sluice fleet keygen` wrote on the operator machine',
    }).optional(),
    public_key: z
      .string()
      .min(1)
      .optional()
      .describe('The same PEM text inline, instead of public_key_file.'),
  })
  .refine((k) => (k.public_key_file === undefined) !== (k.public_key === undefined), {
    message: 'set exactly one of public_key_file and public_key',
  })
  .describe('An operator key whose signatures this gateway accepts.');

export const fleetMqttSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^(mqtts?|wss?):\/\/[^/]+/, 'a broker URL such as mqtts://fleet.example.com:8883')
      .describe('The fleet broker.'),
    client_id: z.string().min(1).optional().describe('MQTT client id. Default: `sluice-fleet-<gateway id>`.'),
    ...credentialFields,
    tls: tlsClientSchema
      .optional()
      .describe(
        'How an mqtts:// or wss:// fleet broker is verified, and the client certificate shown to it.',
      ),
    topic_prefix: z
      .string()
      .regex(/^[^#+]+$/, 'a topic without wildcards')
      .default('sluice/fleet')
      .describe('Bundles arrive on `<prefix>/gateways/<id>/config` and `<prefix>/groups/<label>/config`.'),
    heartbeat_interval_ms: durationMs
      .min(100)
      .default(30_000)
      .describe('How often the retained status is refreshed (its `at_ms` is the heartbeat).'),
    keepalive_s: z.number().int().min(0).max(65_535).default(30).describe('MQTT keepalive, in seconds.'),
    reconnect_period_ms: durationMs.min(100).default(5_000).describe('Delay between reconnects.'),
    connect_timeout_ms: durationMs.min(100).default(10_000).describe('How long to wait for CONNACK.'),
  })
  .superRefine((c, ctx) => {
    for (const p of credentialProblems(c, false)) ctx.addIssue({ code: 'custom', ...p, path: [...p.path] });
  })
  .describe('Receive bundles from, and report status to, an MQTT fleet broker.');

export const fleetHttpSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).describe('URL of the bundle (the same JSON as on MQTT).'),
    poll_interval_ms: durationMs
      .min(100)
      .default(60_000)
      .describe('Time between polls (with If-None-Match).'),
    timeout_ms: durationMs.min(100).default(10_000).describe('How long one poll may take.'),
    token_file: configFile('File whose first line is sent as `Authorization: Bearer <token>`.', {
      what: 'fleet token file',
      missingHint: 'write the bearer token on its first line (mode 0640, group of the sluice user)',
    }).optional(),
  })
  .describe('Pull bundles over HTTP(S), for sites where only HTTPS leaves.');

export const fleetSchema = z
  .strictObject({
    labels: z
      .array(componentName)
      .default([])
      .describe('Groups this gateway belongs to: bundles can target them, and their topics are subscribed.'),
    trusted_keys: z.array(trustedKeySchema).min(1).describe('Operator keys whose bundles are accepted.'),
    mqtt: fleetMqttSchema.optional(),
    http: fleetHttpSchema.optional(),
    health_grace_ms: durationMs
      .default(30_000)
      .describe('How long a new config is watched before it is committed; if it is worse, it is reverted.'),
    max_boot_attempts: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe('Starts with an uncommitted config before falling back to the last known good one.'),
    max_bundle_bytes: byteSize
      .default(1024 * 1024)
      .describe(
        'Largest bundle accepted, checked while it is read from MQTT or HTTP, before it is decoded or verified.',
      ),
    max_clock_skew_ms: durationMs
      .default(300_000)
      .describe(
        'How far in the future a bundle issued_at_ms may be (clock drift between operator and site).',
      ),
  })
  .describe('Remote configuration: trusted operator keys, channels and the health gate.');

export type FleetConfig = z.output<typeof fleetSchema>;
export type FleetMqttConfig = z.output<typeof fleetMqttSchema>;
export type FleetHttpConfig = z.output<typeof fleetHttpSchema>;
