// Config of the `kafka` sink: brokers, topic and key templates, delivery guarantees, TLS and SASL. The single
// source of truth for its keys, defaults and `config docs` text; the config type is inferred from it.
import zlib from 'node:zlib';
import { z } from 'zod';
import { backoffSchemaWith, batchSchemaWith, byteSize, durationMs, sinkCommon } from '../../config/common.js';
import { credentialFields, credentialProblems } from '../../config/credentials.js';
import { tlsClientSchema } from '../../config/tls.js';
import { templateProblems } from './topics.js';

const hostPort = z
  .string()
  .regex(/^[^\s:/]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'host:port, e.g. "kafka-1:9092"');

const saslSchema = z
  .strictObject({
    mechanism: z
      .enum(['plain', 'scram-sha-256', 'scram-sha-512'])
      .describe('SASL mechanism; use PLAIN only over TLS.'),
    ...credentialFields,
    username: z.string().min(1).describe('User name to log in to the brokers with.'),
  })
  .superRefine((s, ctx) => {
    for (const p of credentialProblems(s, true)) ctx.addIssue({ code: 'custom', ...p, path: [...p.path] });
  })
  .describe('SASL authentication; secrets never reach a log line.');

const template = (kind: 'topic' | 'key') =>
  z.string().superRefine((text, ctx) => {
    for (const message of templateProblems(text, kind)) ctx.addIssue({ code: 'custom', message });
  });

/** The oldest Node @platformatic/kafka 1.x declares it runs on (its package.json engines). */
const PLATFORMATIC_NODE = [20, 19, 4] as const;

function nodeAtLeast(want: readonly number[], version = process.versions.node): boolean {
  const have = version.split('.').map(Number);
  for (let i = 0; i < want.length; i++) {
    const h = have[i] ?? 0;
    const w = want[i] ?? 0;
    if (h !== w) return h > w;
  }
  return true;
}

/**
 * What the chosen client needs and this Node lacks, as config problems: found at config load (`sluice check`
 * says so), not as a producer thread that fails on its first batch.
 */
export function clientProblems(
  client: 'kafkajs' | 'platformatic',
  compression: string,
  env: { node?: string; zstd?: boolean } = {},
): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const node = env.node ?? process.versions.node;
  if (client === 'platformatic' && !nodeAtLeast(PLATFORMATIC_NODE, node)) {
    out.push({
      path: 'client',
      message: `client: platformatic needs Node >= ${PLATFORMATIC_NODE.join('.')} (this is ${node}); upgrade Node or use client: kafkajs`,
    });
  }
  if (client === 'kafkajs' && compression !== 'none' && compression !== 'gzip') {
    out.push({
      path: 'compression',
      message: `${compression} needs client: platformatic (KafkaJS has gzip only without extra codec packages)`,
    });
  }
  // node:zlib has zstd from Node 22.15 (and 23.8); @platformatic/kafka uses it, it has no zstd of its own.
  const zstd = env.zstd ?? typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';
  if (compression === 'zstd' && !zstd) {
    out.push({
      path: 'compression',
      message: `zstd needs Node >= 22.15 (node:zlib zstd; this is ${node}); use lz4, snappy or gzip`,
    });
  }
  return out;
}

export const schema = z
  .strictObject({
    type: z.literal('kafka'),
    client: z
      .enum(['kafkajs', 'platformatic'])
      .default('kafkajs')
      .describe(
        'Kafka client library in the producer thread: `kafkajs` (KafkaJS 2.2.4, unmaintained) or ' +
          '`platformatic` (@platformatic/kafka: maintained, faster, Node >= 20.19.4, and snappy, lz4 and ' +
          'zstd). Same guarantees, key partitioning (the Java default) and config either way.',
      ),
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
    compression: z
      .enum(['none', 'gzip', 'snappy', 'lz4', 'zstd'])
      .default('none')
      .describe(
        'Compression of each produce request. snappy, lz4 and zstd need client: platformatic; zstd also ' +
          'Node >= 22.15.',
      ),
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
    tls: tlsClientSchema
      .optional()
      .describe('TLS to the brokers; present (even as `tls: {}`) means TLS is on.'),
    sasl: saslSchema.optional(),
    ...sinkCommon,
    // Bigger than the common default: the drain waits for each batch's acknowledgement (one in flight, see
    // worker.ts), so readings per round trip set its rate; 8,000 against 2,000 nearly doubled it (issue 17,
    // test/bench/kafka-drain.mjs). max_bytes bounds the memory a batch holds.
    batch: batchSchemaWith({ max_count: 8_000, max_bytes: 2 * 1024 * 1024 }).prefault({}),
    // Tighter than the common default: after an outage the sink should be back within a few seconds.
    retry: backoffSchemaWith({ max_ms: 2_000 }).prefault({}),
  })
  .superRefine((c, ctx) => {
    for (const p of clientProblems(c.client, c.compression))
      ctx.addIssue({ code: 'custom', path: [p.path], message: p.message });
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
