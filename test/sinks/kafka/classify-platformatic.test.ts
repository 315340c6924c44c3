// @platformatic/kafka's error shapes (config `client: platformatic`) classify as KafkaJS's do: its errors are
// aggregates (MultipleErrors: one per retry, per broker tried) of errors with causes, the broker's error in a
// ProtocolError's apiId, and they must keep all that across the producer thread (wire.ts). Built from the
// library's own classes, so a change of their shape in an upgrade shows here.
import {
  AuthenticationError,
  MultipleErrors,
  NetworkError,
  ResponseError,
  TimeoutError,
} from '@platformatic/kafka';
import zlib from 'node:zlib';
import { expect, test } from 'vitest';
import { classify, isUnreachable } from '../../../gateway/sinks/kafka/classify.js';
import { clientProblems, schema } from '../../../gateway/sinks/kafka/schema.js';
import { fromWire, toWire } from '../../../gateway/sinks/kafka/wire.js';

/** structured clone, as postMessage does it */
const across = (err: unknown): Error => fromWire(structuredClone(toWire(err)));

/** What a broker answer with these error codes becomes (Produce = api 0, InitProducerId = 22). */
const response = (api: number, ...codes: Array<[number, string?]>): Error =>
  new ResponseError(
    api,
    9,
    Object.fromEntries(
      codes.map(([code, said], i) => [`/responses/0/partition_responses/${i}`, [code, said ?? null]]),
    ),
    {},
  );
const retried = (op: string, ...errors: Error[]): Error =>
  new MultipleErrors(`${op} failed ${errors.length} times.`, errors);

test.each([
  ['a record refused for good', retried('produce', response(0, [10])), 'reject', 'MESSAGE_TOO_LARGE'],
  ['topic write refused', response(0, [29]), 'reject', 'TOPIC_AUTHORIZATION_FAILED'],
  ['leader moved', retried('produce', response(0, [6]), response(0, [6])), 'retry', 'NOT_LEADER_OR_FOLLOWER'],
  ['ISR short', response(0, [19]), 'retry', 'NOT_ENOUGH_REPLICAS'],
  // A fresh cluster's first InitProducerId: retriable, not a setup error.
  [
    'coordinator loading',
    retried('initProducerId', response(22, [14]), response(22, [14])),
    'retry',
    'COORDINATOR_LOAD_IN_PROGRESS',
  ],
  ['no coordinator yet', response(22, [15]), 'retry', 'COORDINATOR_NOT_AVAILABLE'],
  ['no IdempotentWrite/Write', response(22, [31]), 'setup', 'CLUSTER_AUTHORIZATION_FAILED'],
  ['sequence off', response(0, [45]), 'retry', 'OUT_OF_ORDER_SEQUENCE_NUMBER'],
  ['producer id gone', response(0, [59]), 'retry', 'UNKNOWN_PRODUCER_ID'],
  [
    'a wrong SCRAM password',
    retried(
      'metadata',
      new MultipleErrors('Cannot connect to any broker.', [
        new NetworkError('Connection to localhost:9094 failed.', {
          cause: new AuthenticationError('SASL authentication failed.', {
            cause: response(36, [
              58,
              'Authentication failed during authentication due to invalid credentials',
            ]),
          }),
        }),
      ]),
    ),
    'setup',
    'SASL_AUTHENTICATION_FAILED',
  ],
  [
    'a TLS alert after the handshake (mTLS refused), carried by the worker beside "Connection closed"',
    new AggregateError(
      [
        retried('metadata', new NetworkError('Connection closed')),
        Object.assign(new Error('tlsv13 alert certificate required'), {
          code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
        }),
      ],
      'metadata failed 1 times. (after a TLS alert)',
    ),
    'setup',
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  ],
  [
    'a certificate that does not name the host',
    new NetworkError('Connection to 127.0.0.1:9095 failed.', {
      cause: Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      }),
    }),
    'setup',
    'ERR_TLS_CERT_ALTNAME_INVALID',
  ],
  [
    'the connection lost while logging in (not a refused login)',
    new NetworkError('Connection to localhost:9094 failed.', {
      cause: new AuthenticationError('Cannot find a suitable SASL mechanism.', {
        cause: new NetworkError('Connection closed'),
      }),
    }),
    'retry',
    'PLT_KFK_NETWORK',
  ],
  [
    'connection refused',
    new NetworkError('Connection to localhost:1 failed.', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    }),
    'retry',
    'PLT_KFK_NETWORK',
  ],
  ['a request timeout', new TimeoutError('Request timed out'), 'retry', 'PLT_KFK_NETWORK'],
] as const)('%s: %s', (_what, err, disposition, kind) => {
  for (const e of [err, across(err)]) expect(classify(e)).toMatchObject({ disposition, kind });
});

test('messages say why, not only how often it failed; a refused connection means reconnect', () => {
  const sasl = classify(
    across(response(36, [58, 'Authentication failed during authentication due to invalid credentials'])),
  );
  expect(sasl.message).toMatch(/SASL authentication failed\. .*invalid credentials/);
  const refused = classify(
    across(
      retried(
        'metadata',
        new NetworkError('Connection to localhost:1 failed.', {
          cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
        }),
      ),
    ),
  );
  expect(refused.message).toBe('metadata failed 1 times. connect ECONNREFUSED 127.0.0.1:1');
  expect(isUnreachable(refused.kind, refused.message)).toBe(true);
});

test('the client option: kafkajs by default; what the chosen client or this Node cannot do is refused at load', () => {
  const base = { type: 'kafka', brokers: ['k1:9092'], topic: 't' };
  expect(schema.parse(base).client).toBe('kafkajs');
  expect(schema.parse({ ...base, client: 'platformatic', compression: 'lz4' })).toMatchObject({
    client: 'platformatic',
    compression: 'lz4',
  });
  const bad = (over: Record<string, unknown>): string =>
    schema
      .safeParse({ ...base, ...over })
      .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
      .join('; ') ?? '';
  expect(bad({ client: 'rdkafka' })).toMatch(/^client: /);
  expect(bad({ compression: 'snappy' })).toMatch(/compression: snappy needs client: platformatic/);
  expect(clientProblems('platformatic', 'none', { node: '20.19.3' })).toEqual([
    { path: 'client', message: expect.stringMatching(/needs Node >= 20\.19\.4 \(this is 20\.19\.3\)/) },
  ]);
  expect(clientProblems('platformatic', 'none', { node: '20.19.4' })).toEqual([]);
  expect(clientProblems('platformatic', 'zstd', { node: '22.14.0', zstd: false })).toEqual([
    { path: 'compression', message: expect.stringMatching(/zstd needs Node >= 22\.15/) },
  ]);
  expect(clientProblems('platformatic', 'zstd', { node: '22.15.0', zstd: true })).toEqual([]);
  // This machine's Node, whatever it is: zstd is refused exactly when node:zlib lacks it.
  const hasZstd = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';
  expect(bad({ client: 'platformatic', compression: 'zstd' }) === '').toBe(hasZstd);
});
