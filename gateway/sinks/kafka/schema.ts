// The `kafka` sink's config schema, the single source of truth of its options and types (the producer and
// its worker import it from here, not from the front file index.ts).
import { z } from 'zod';
import { backoffSchema, byteSize, configFile, durationMs, sinkCommon } from '../../config/common.js';
import { templateProblems } from './topics.js';

const hostPort = z
  .string()
  .regex(/^[^\s:/]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'host:port, e.g. "kafka-1:9092"');

const tlsSchema = z
  .strictObject({
    ca_file: configFile(
      "PEM file of the CA(s) that signed the brokers' certificates; the system CAs when omitted.",
      { what: 'TLS CA file' },
    ).optional(),
    cert_file: configFile('PEM client certificate, for brokers that require mutual TLS.', {
      what: 'TLS certificate',
    }).optional(),
    key_file: configFile('PEM private key of cert_file.', { what: 'TLS key' }).optional(),
    verify_hostname: z
      .boolean()
      .default(true)
      .describe(
        'Check that each broker certificate names the host connected to. Turn off only for IP-only labs.',
      ),
  })
  .refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), {
    message: 'cert_file and key_file go together',
    path: ['key_file'],
  })
  .describe('TLS to the brokers; present (even as `tls: {}`) means TLS is on.');

const saslSchema = z
  .strictObject({
    mechanism: z
      .enum(['plain', 'scram-sha-256', 'scram-sha-512'])
      .describe('SASL mechanism; use PLAIN only over TLS.'),
    username: z.string().min(1),
    password: z.string().min(1).optional().describe('The password, inline; prefer password_file.'),
    password_file: configFile('File holding the password (trailing newline ignored).', {
      what: 'SASL password file',
      missingHint: 'write the password into it (mode 0640, owner root, group of the sluice user)',
    }).optional(),
  })
  .refine((s) => (s.password === undefined) !== (s.password_file === undefined), {
    message: 'give exactly one of password and password_file',
    path: ['password'],
  })
  .describe('SASL authentication; secrets never reach a log line.');

const template = (kind: 'topic' | 'key') =>
  z.string().superRefine((text, ctx) => {
    for (const message of templateProblems(text, kind)) ctx.addIssue({ code: 'custom', message });
  });

export const schema = z
  .strictObject({
    type: z.literal('kafka'),
    brokers: z.array(hostPort).min(1).describe('Bootstrap brokers, host:port; the rest are discovered.'),
    client_id: z
      .string()
      .min(1)
      .default('sluice')
      .describe('Client id the brokers see (quotas, request logs).'),
    topic: template('topic')
      .min(1)
      .describe(
        'Topic, fixed (`sensors`) or a template of reading fields (`sensors.{metric}`, `{device}`, `{source}`). ' +
          'A reading whose topic comes out illegal is parked as a dead letter.',
      ),
    key: template('key')
      .default('{device}')
      .describe(
        'Message key template; the default keeps each device on one partition, in order. "" sends no key.',
      ),
    value_format: z
      .enum(['json', 'cbor'])
      .default('json')
      .describe('Message value: the reading with its id, gateway and seq, as JSON or CBOR.'),
    compression: z.enum(['none', 'gzip']).default('none').describe('Compression of each produce request.'),
    acks: z
      .enum(['all', 'leader'])
      .default('all')
      .describe(
        '`all`: every in-sync replica has the message before the queue lets it go; `leader`: the leader only.',
      ),
    idempotent: z
      .boolean()
      .default(true)
      .describe(
        'Idempotent producer (broker drops retried duplicates). Needs acks: all and Write on a topic (Kafka >= 3.0; ' +
          'older brokers: the IdempotentWrite cluster ACL); without it connecting fails with SLUICE_AUTH. Turn off ' +
          'only for clusters whose metadata names no controller (librdkafka mock).',
      ),
    max_message_bytes: byteSize
      .default(1_000_000)
      .describe(
        "Largest message sent; bigger readings are dead letters. Keep <= the topic's max.message.bytes.",
      ),
    max_request_bytes: byteSize
      .default(1_048_576)
      .describe('Most message bytes per produce request; a queue batch is split to fit (max.request.size).'),
    request_timeout_ms: durationMs.min(100).default(30_000).describe('How long a produce request may take.'),
    connection_timeout_ms: durationMs
      .min(100)
      .default(3_000)
      .describe('How long connecting to a broker may take.'),
    dead_letter_topic: template('topic')
      .min(1)
      .optional()
      .describe('Also send a note (id, seq, device, metric, error) of each dead letter to this fixed topic.'),
    tls: tlsSchema.optional(),
    sasl: saslSchema.optional(),
    ...sinkCommon,
    // Tighter than the common default: after an outage the sink should be back within a few seconds.
    retry: backoffSchema.prefault({ max_ms: 2_000 }),
  })
  .superRefine((c, ctx) => {
    if (c.idempotent && c.acks !== 'all') {
      ctx.addIssue({
        code: 'custom',
        path: ['idempotent'],
        message: 'an idempotent producer needs acks: all',
      });
    }
    if (c.dead_letter_topic !== undefined && /[{}]/.test(c.dead_letter_topic)) {
      ctx.addIssue({
        code: 'custom',
        path: ['dead_letter_topic'],
        message: 'the dead-letter topic is a fixed name',
      });
    }
    if (c.max_message_bytes > c.max_request_bytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_message_bytes'],
        message: 'cannot exceed max_request_bytes',
      });
    }
  })
  .describe(
    'Apache Kafka: one message per reading, keyed by device, acks all, at-least-once with stable ids.',
  );

export type KafkaSinkConfig = z.output<typeof schema>;
