// Errors cross from the sink's producer thread as plain data (wire.ts): what comes back must classify exactly
// as the KafkaJS error did (retry, dead letter or setup), and a SluiceError must come back as one.
import { createRequire } from 'node:module';
import { expect, test } from 'vitest';
import { SluiceError } from '../../../gateway/errors.js';
import { classify } from '../../../gateway/sinks/kafka/classify.js';
import { fromWire, toWire } from '../../../gateway/sinks/kafka/wire.js';

// kafkajs is CommonJS and spreads its error classes into module.exports, which ESM named imports miss.
const kafkajs = createRequire(import.meta.url)('kafkajs') as {
  KafkaJSProtocolError: new (e: { message: string; type: string; code: number; retriable: boolean }) => Error;
  KafkaJSNumberOfRetriesExceeded: new (e: Error, o: { retryCount: number; retryTime: number }) => Error;
  KafkaJSConnectionError: new (e: string, o: { broker: string }) => Error;
  KafkaJSSASLAuthenticationError: new (e: string) => Error;
};

/** structured clone, as postMessage does it */
const across = (err: unknown): Error => fromWire(structuredClone(toWire(err)));

const protocol = (type: string, code: number, retriable: boolean) =>
  new kafkajs.KafkaJSProtocolError({ message: `broker says ${type}`, type, code, retriable });

test('KafkaJS errors classify the same after crossing from the producer thread', () => {
  const retried = (e: Error) =>
    new kafkajs.KafkaJSNumberOfRetriesExceeded(e, { retryCount: 2, retryTime: 90 });
  const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  const cases: unknown[] = [
    protocol('MESSAGE_TOO_LARGE', 10, false),
    retried(protocol('NOT_LEADER_FOR_PARTITION', 6, true)),
    retried(protocol('TOPIC_AUTHORIZATION_FAILED', 29, false)),
    protocol('SASL_AUTHENTICATION_FAILED', 58, false),
    new kafkajs.KafkaJSConnectionError('Connection error: ECONNREFUSED', { broker: 'b:9092' }),
    new kafkajs.KafkaJSSASLAuthenticationError('SASL PLAIN authentication failed'),
    new Error('outer', { cause: tls }),
    'a string thrown',
  ];
  for (const e of cases) expect(classify(across(e))).toEqual(classify(e));
  expect(classify(across(protocol('MESSAGE_TOO_LARGE', 10, false))).disposition).toBe('reject');
});

test('a SluiceError comes back as a SluiceError with its code, hint, retriable flag and cause', () => {
  const e = new SluiceError('SLUICE_CONFIG_READ', 'cannot read the Kafka TLS CA file /x', {
    hint: 'check the path',
    cause: Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }),
  });
  const back = across(e);
  expect(back).toBeInstanceOf(SluiceError);
  expect((back as SluiceError).toJSON()).toEqual(e.toJSON());
  expect((back.cause as { code?: unknown }).code).toBe('ENOENT');
});
