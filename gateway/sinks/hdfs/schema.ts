// Config of the `hdfs` sink: namenodes, directory template, file format and rolling, auth and TLS. The single
// source of truth for its keys, defaults and `config docs` text; the config type is inferred from it.
import { z } from 'zod';
import {
  backoffSchemaWith,
  batchSchemaWith,
  byteSize,
  configFile,
  durationMs,
  sinkCommon,
} from '../../config/common.js';
import { tlsClientSchema } from '../../config/tls.js';
import { COMPRESSIONS } from './formats.js';
import { templateProblems } from './paths.js';

/** Row groups a Parquet file may have, at most: what its footer's index holds in memory until the roll. */
const MAX_ROW_GROUPS = 256;

const hdfsPath = z.string().superRefine((text, ctx) => {
  for (const message of templateProblems(text)) ctx.addIssue({ code: 'custom', message });
});

const authSchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('pseudo'),
      user: z.string().min(1).describe('The HDFS user (`user.name`); only for clusters with security off.'),
    }),
    z.strictObject({
      type: z.literal('delegation_token'),
      token: z.string().min(1).optional().describe('The token (URL-safe string), inline; prefer token_file.'),
      token_file: configFile(
        'File holding the token (as `hdfs fetchdt` + a cron writes it); re-read on every reconnect.',
        {
          what: 'delegation token file',
          missingHint: 'fetch a token into it: hdfs fetchdt --renewer ... FILE',
        },
      ).optional(),
      user: z
        .string()
        .min(1)
        .optional()
        .describe('Also send `user.name` (security off: the token alone does not name the user).'),
    }),
    z.strictObject({
      type: z.literal('kerberos'),
      principal: z
        .string()
        .regex(/^[^@\s]+@[^@\s]+$/, 'a principal with its realm, e.g. sluice/gw1@EXAMPLE.COM')
        .describe('The Kerberos principal the sink authenticates as (SPNEGO), with its realm.'),
      keytab: configFile(
        'Client keytab of `principal`; without it, a ticket in KRB5CCNAME (kinit, k5start).',
        {
          what: 'Kerberos keytab',
          missingHint: 'export one: kadmin -q "ktadd -k FILE PRINCIPAL" (or ipa-getkeytab)',
        },
      ).optional(),
      krb5_conf: configFile('krb5.conf naming the realm and its KDCs; default /etc/krb5.conf.', {
        what: 'krb5.conf',
        missingHint: 'give the krb5.conf of the cluster realm',
      }).optional(),
    }),
  ])
  .describe(
    'How the sink identifies itself: pseudo (security off), a delegation token (inline or a file an operator ' +
      'rotates), or kerberos (SPNEGO with a keytab: the sink fetches, renews and replaces its own delegation ' +
      'token; needs the optional `kerberos` package, built against libkrb5-dev).',
  );

export const schema = z
  .strictObject({
    type: z.literal('hdfs'),
    namenodes: z
      .array(z.string().regex(/^https?:\/\/[^/\s]+\/?$/, 'a base URL such as http://nn1:9870'))
      .min(1)
      .describe('Namenode HTTP(S) addresses (dfs.namenode.http-address); both of an HA pair, in order.'),
    path: hdfsPath.describe(
      'Directory template: {yyyy} {MM} {dd} {HH} {mm} (UTC) and {device} {metric} {source} {gateway}, ' +
        'e.g. /data/sensors/{yyyy}/{MM}/{dd}/{HH}.',
    ),
    time_source: z
      .enum(['reading', 'arrival'])
      .default('reading')
      .describe("Time buckets from the reading's own timestamp, or from when the sink writes it."),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/, 'letters, digits, `.`, `-` (max 64)')
      .default('sluice')
      .describe('First part of every file name: <prefix>-<gateway>-<first seq>-<last seq>.<ext>.'),
    format: z
      .enum(['jsonl', 'csv', 'parquet', 'avro'])
      .default('jsonl')
      .describe(
        'jsonl: the reading record, one per line. csv: header id,gateway,seq,ts,device,metric,value,unit,' +
          'source,tags. parquet and avro: columns id, gateway, source, device, metric (string), seq (int64/long), ' +
          'ts (int64 TIMESTAMP(MILLIS, UTC) / timestamp-millis), value (double, null unless numeric), ' +
          'value_json (string: the JSON of a non-numeric value, else null), unit (string or null), ' +
          'tags (string: a JSON object, or null). A Parquet file holds one row group per upload ' +
          '(upload_buffer_bytes) and its footer; an Avro container file one block per upload.',
      ),
    compression: z
      .enum(['none', 'gzip', 'snappy', 'deflate'])
      .optional()
      .describe(
        'jsonl, csv: none (default) or gzip (adds .gz to the names). parquet: snappy (default), gzip or none, ' +
          'per page inside the file. avro: deflate (default) or none, per block.',
      ),
    max_file_bytes: byteSize
      .default(128 * 1024 * 1024)
      .describe(
        'Roll once a file holds this many bytes before compression (parquet, avro: the readings as JSON lines, estimated).',
      ),
    max_file_readings: z
      .number()
      .int()
      .min(1)
      .default(1_000_000)
      .describe('Roll once a file holds this many.'),
    roll_interval_ms: durationMs
      .min(1)
      .default(300_000)
      .describe('Roll the open files this long after opening.'),
    idle_timeout_ms: durationMs
      .default(60_000)
      .describe('Roll when an open file got nothing for this long (an old time bucket); 0: never.'),
    upload_buffer_bytes: byteSize
      .default(4 * 1024 * 1024)
      .describe(
        'Bytes held in memory per open file before they are sent (CREATE, then APPEND); for parquet, one row ' +
          'group (at least max_file_bytes / 256).',
      ),
    state_dir: hdfsPath
      .refine((p) => !p.includes('{'), 'a fixed directory')
      .optional()
      .describe(
        'Where staged files and commit manifests live (per gateway and sink); default <static part of path>/_sluice. ' +
          'Must be in the same encryption zone as path.',
      ),
    permission: z
      .string()
      .regex(/^[0-7]{3,4}$/, 'octal, e.g. "640"')
      .optional()
      .describe('Permission of new files; the HDFS default (644) when omitted.'),
    replication: z.number().int().min(1).max(32_767).optional().describe('dfs.replication for new files.'),
    block_size: byteSize.optional().describe('dfs.blocksize for new files.'),
    request_timeout_ms: durationMs
      .min(100)
      .default(30_000)
      .describe('Deadline of one HTTP request, upload included.'),
    secure: z
      .boolean()
      .default(false)
      .describe(
        'The cluster runs with hadoop.security.authentication=kerberos: delegation tokens or kerberos auth.',
      ),
    auth: authSchema,
    tls: tlsClientSchema
      .optional()
      .describe(
        'For https:// namenodes (swebhdfs): the namenode and datanode certificates are checked as set here.',
      ),
    ...sinkCommon,
    // Larger than the common default: each batch is at least one HTTP request per open file.
    batch: batchSchemaWith({ max_count: 5_000, max_bytes: 4 * 1024 * 1024 }).prefault({}),
    retry: backoffSchemaWith({ max_ms: 5_000 }).prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.secure && c.auth.type === 'pseudo') {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'type'],
        message: 'a secure cluster refuses pseudo auth: use kerberos (a keytab) or delegation_token',
      });
    }
    if (
      c.auth.type === 'delegation_token' &&
      (c.auth.token === undefined) === (c.auth.token_file === undefined)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'token'],
        message: 'give exactly one of token and token_file',
      });
    }
    if (c.tls !== undefined && !c.namenodes.every((u) => u.startsWith('https://'))) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls needs https:// namenodes' });
    }
    if (c.compression !== undefined && !COMPRESSIONS[c.format].includes(c.compression)) {
      ctx.addIssue({
        code: 'custom',
        path: ['compression'],
        message: `format ${c.format} takes compression ${COMPRESSIONS[c.format].join(', ')}`,
      });
    }
    // A Parquet file keeps each row group's index (column chunk offsets, statistics) in memory until its
    // footer is written at the roll: one row group per upload, so the ratio bounds that memory per file.
    if (c.format === 'parquet' && c.max_file_bytes / c.upload_buffer_bytes > MAX_ROW_GROUPS) {
      ctx.addIssue({
        code: 'custom',
        path: ['upload_buffer_bytes'],
        message: `parquet writes one row group per upload: at least max_file_bytes / ${MAX_ROW_GROUPS} (${Math.ceil(c.max_file_bytes / MAX_ROW_GROUPS)} bytes), or a smaller max_file_bytes`,
      });
    }
    if (c.upload_buffer_bytes > c.max_file_bytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['upload_buffer_bytes'],
        message: 'cannot exceed max_file_bytes',
      });
    }
  })
  .describe(
    'HDFS over WebHDFS: JSON-lines, CSV, Parquet or Avro files in time-bucketed directories, exactly once.',
  );

export type HdfsSinkConfig = z.output<typeof schema>;
