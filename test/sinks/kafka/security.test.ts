// The Kafka sink's security modes on the real Apache Kafka cluster (test/peers/kafka/): SASL_SSL with SCRAM,
// mutual TLS, host name checks and ACLs. Set up right, every reading arrives once. Set up wrong, the sink says
// so (SLUICE_AUTH, unhealthy, a hint in the log), keeps every reading queued (the cursor stays) and logs no
// secret; readings Kafka refuses for good (a topic the user may not write) are dead letters, the rest flows.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Sink } from '../../../gateway/components.js';
import { createLogger } from '../../../gateway/observe/log.js';
import { noMetrics } from '../../../gateway/metrics-spec.js';
import { Queue } from '../../../gateway/queue/queue.js';
import { SinkRunner } from '../../../gateway/runtime/sink-runner.js';
import type { SinkRunnerStatus } from '../../../gateway/status.js';
import { schema } from '../../../gateway/sinks/kafka/schema.js';
import { KafkaSink } from '../../../gateway/sinks/kafka/sink.js';
import { readings } from '../../helpers/readings.js';
import { tempDir } from '../../helpers/tmp.js';
import { until } from '../../helpers/wait.mjs';
import {
  clientCert,
  createAcls,
  createTopic,
  kcatRead,
  sharedKafka,
  uniqueTopic,
  user,
} from '../../peers/kafka/index.js';
import {
  GATEWAY,
  KAFKA_CLIENTS,
  assertBuilt,
  consume,
  dedupProblems,
  kafkaSink as anySink,
} from './helpers.js';

const kafka = sharedKafka();
const { certs } = kafka;
const sluice = user(kafka, 'sluice');
const limited = user(kafka, 'limited');
const tls = { ca_file: certs.caFile };
const retry = { initial_ms: 20, max_ms: 200, multiplier: 2 };

beforeAll(() => {
  assertBuilt();
});

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** A three-partition topic. */
const newTopic = (name: string): Promise<void> => createTopic(kafka, name, { partitions: 3 });

interface Captured {
  readonly log: Logger;
  /** Every line logged so far, parsed. */
  readonly lines: () => Record<string, unknown>[];
  readonly text: () => string;
}

/** The gateway's own logger (redaction included) at trace level, writing into memory. */
function capture(): Captured {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const text = (): string => chunks.join('');
  return {
    log: createLogger({ level: 'trace', gatewayId: GATEWAY, destination }),
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

function newQueue(): Queue {
  return Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
}

function runnerOf(sink: Sink, queue: Queue, log: Logger): SinkRunner {
  const batch = { max_count: 25, max_bytes: 1 << 20, linger_ms: 0 };
  return new SinkRunner(sink, queue, { startFrom: 'oldest', batch, retry }, log, noMetrics);
}

/** Runs the sink on the queue until the cursor reaches the queue's end (acked or parked), then stops it. */
async function deliverAll(sink: Sink, queue: Queue, captured = capture()): Promise<void> {
  const runner = runnerOf(sink, queue, captured.log);
  await runner.start();
  try {
    const done = (): boolean => queue.cursorPosition(sink.name) === queue.lastSeq;
    await until(done, {
      timeoutMs: 20_000,
      what: 'the cursor at the end',
      state: () => JSON.stringify(runner.status()),
    });
  } finally {
    await runner.stop();
  }
}

interface Failed {
  readonly status: SinkRunnerStatus;
  readonly captured: Captured;
}

/** Runs the sink on the queue until it has failed three times in a row; its status then, runner stopped. */
async function failThrice(sink: Sink, queue: Queue, captured = capture()): Promise<Failed> {
  const runner = runnerOf(sink, queue, captured.log);
  await runner.start();
  try {
    const failed = (): boolean => runner.status().consecutiveFailures >= 3;
    await until(failed, {
      timeoutMs: 20_000,
      what: 'three failed attempts',
      state: () => JSON.stringify(runner.status()),
    });
    return { status: runner.status(), captured };
  } finally {
    await runner.stop();
  }
}

/** What an operator sees of a setup problem: SLUICE_AUTH, not retriable, the sink unhealthy, a logged hint. */
function expectSetupError({ status, captured }: Failed, detail: RegExp): void {
  expect(status.lastError).toMatchObject({ code: 'SLUICE_AUTH', retriable: false });
  expect(status.lastError?.message).toMatch(detail);
  expect(status.health).toMatchObject({ state: 'unhealthy', lastError: { code: 'SLUICE_AUTH' } });
  expect(status.connected).toBe(false);
  const logged = captured.lines().filter((l) => l.msg === 'sink failed; retrying');
  expect(logged.length).toBeGreaterThanOrEqual(3);
  expect(logged[0]).toMatchObject({
    level: 'error',
    stage: 'connect',
    err: expect.stringMatching(/^SLUICE_AUTH: Kafka connect failed/),
    hint: expect.stringMatching(/TLS files, SASL credentials and ACLs/),
  });
}

/** Nothing left the queue: the cursor did not move, nothing was parked, the topic is empty. */
async function expectKept(queue: Queue, topic: string): Promise<void> {
  expect(queue.cursorPosition('kafka')).toBe(0);
  expect(queue.deadLetters('kafka')).toEqual([]);
  expect(await kcatRead(kafka, topic)).toEqual([]);
}

/**
 * Every one of `seqs` in the topic, each device's in order; exactly once unless duplicates are allowed (an
 * idempotent producer that never resent a batch in another shape writes none).
 */
async function expectDelivered(
  topic: string,
  seqs: readonly number[],
  duplicates: 'none' | 'allowed' = 'none',
): Promise<void> {
  const got = await consume(kafka, topic);
  expect(dedupProblems(got, seqs)).toEqual([]);
  if (duplicates === 'none') expect(got).toHaveLength(seqs.length);
}

type Mechanism = 'scram-sha-256' | 'scram-sha-512';

describe.each(KAFKA_CLIENTS)('client: %s', (client) => {
  const kafkaSink = (brokers: Parameters<typeof anySink>[0], over: Record<string, unknown>): KafkaSink =>
    anySink(brokers, { client, ...over });

  describe('kafka sink security: SASL_SSL with SCRAM', () => {
    test.each([
      ['scram-sha-256', 'password'],
      ['scram-sha-512', 'password_file'],
    ] as const)('%s, %s: every reading arrives once (idempotent)', async (mechanism, how) => {
      const topic = uniqueTopic('sec-scram');
      await newTopic(topic);
      const file = join(tempDir(), 'kafka-password');
      writeFileSync(file, `${sluice.password}\n`, { mode: 0o600 }); // the trailing newline is not the password's
      const secret = how === 'password' ? { password: sluice.password } : { password_file: file };
      const sink = kafkaSink(
        { bootstrap: kafka.saslSsl },
        { topic, idempotent: true, tls, sasl: { mechanism, username: sluice.name, ...secret } },
      );
      const queue = newQueue();
      await queue.append(readings(60));
      await deliverAll(sink, queue);
      expect(queue.deadLetters('kafka')).toEqual([]);
      await expectDelivered(topic, range(1, 60));
      await queue.close();
    });

    test('a wrong password is SLUICE_AUTH and keeps the readings; the right one then delivers them all; no log line holds either', async () => {
      const topic = uniqueTopic('sec-badpass');
      await newTopic(topic);
      // kafkaSink() logs nowhere: this one logs into `captured`, KafkaJS's own lines included (debug).
      const captured = capture();
      const sinkWith = (password: string, mechanism: Mechanism): KafkaSink =>
        new KafkaSink(
          'kafka',
          schema.parse({
            type: 'kafka',
            brokers: kafka.saslSsl,
            topic,
            connection_timeout_ms: 1_000,
            request_timeout_ms: 5_000,
            retry,
            tls,
            sasl: { mechanism, username: sluice.name, password },
            client,
          }),
          { gatewayId: GATEWAY, dataDir: '/nonexistent', log: captured.log, metrics: noMetrics },
        );
      const wrong = `wrong-${sluice.password}-${process.pid}`;
      const queue = newQueue();
      await queue.append(readings(30));
      const failed = await failThrice(sinkWith(wrong, 'scram-sha-256'), queue, captured);
      expectSetupError(
        failed,
        client === 'kafkajs'
          ? /KafkaJSSASLAuthenticationError.*invalid credentials/
          : /SASL_AUTHENTICATION_FAILED.*invalid credentials/,
      );
      await expectKept(queue, topic);
      // The operator fixes the password: a new sink on the same queue and cursor sends what was kept.
      await deliverAll(sinkWith(sluice.password, 'scram-sha-512'), queue, captured);
      expect(queue.deadLetters('kafka')).toEqual([]);
      await expectDelivered(topic, range(1, 30));
      const text = captured.text();
      // KafkaJS's lines were captured too (@platformatic/kafka logs nothing of its own).
      if (client === 'kafkajs') expect(text).toMatch(/SaslAuthenticator-SCRAM-SHA-256/);
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(sluice.password);
      expect(JSON.stringify(failed.status)).not.toContain(wrong);
      await queue.close();
    });
  });

  describe('kafka sink security: TLS', () => {
    test('mutual TLS: no client certificate, or one from another CA, is SLUICE_AUTH and keeps the readings; the cluster CA one delivers', async () => {
      const topic = uniqueTopic('sec-mtls');
      await newTopic(topic);
      const queue = newQueue();
      await queue.append(readings(30));
      const on = { bootstrap: kafka.mtls };
      const noCert = await failThrice(kafkaSink(on, { topic, idempotent: true, tls }), queue);
      // TLS 1.3: the broker's alert arrives after the client's handshake; Node names it by its OpenSSL reason.
      // The alert's name follows Node's OpenSSL: SSLV3_ALERT_... on Node 20 (OpenSSL 3.0), SSL/TLS_ALERT_... on 24.
      expectSetupError(
        noCert,
        /ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_BAD_CERTIFICATE|ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED/,
      );
      await expectKept(queue, topic);
      const stranger = { ...tls, cert_file: certs.strangerCert, key_file: certs.strangerKey };
      const refused = await failThrice(kafkaSink(on, { topic, idempotent: true, tls: stranger }), queue);
      expectSetupError(
        refused,
        /ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_(CERTIFICATE_UNKNOWN|BAD_CERTIFICATE|UNKNOWN_CA)/,
      );
      await expectKept(queue, topic);
      // Host name checks on (the default): the brokers are advertised as localhost, which their certificate names.
      const signed = { ...tls, cert_file: certs.clientCert, key_file: certs.clientKey };
      await deliverAll(kafkaSink(on, { topic, idempotent: true, tls: signed }), queue);
      expect(queue.deadLetters('kafka')).toEqual([]);
      await expectDelivered(topic, range(1, 30));
      await queue.close();
    });

    test('host name checks: a broker certificate that does not name the address is SLUICE_AUTH and keeps the readings; verify_hostname: false (the chain still checked) delivers', async () => {
      const topic = uniqueTopic('sec-tlsip');
      await newTopic(topic);
      const queue = newQueue();
      await queue.append(readings(30));
      const on = { bootstrap: kafka.tlsIp };
      const failed = await failThrice(kafkaSink(on, { topic, idempotent: true, tls }), queue);
      expectSetupError(failed, /ERR_TLS_CERT_ALTNAME_INVALID.*IP: 127\.0\.0\.1 is not in the cert's list/);
      await expectKept(queue, topic);
      // Only the host name check is off: without ca_file the chain (the test CA) is refused all the same.
      const noCa = await failThrice(
        kafkaSink(on, { topic, idempotent: true, tls: { verify_hostname: false } }),
        queue,
      );
      expectSetupError(
        noCa,
        /\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/,
      );
      await expectKept(queue, topic);
      const unchecked = { ...tls, verify_hostname: false };
      await deliverAll(kafkaSink(on, { topic, idempotent: true, tls: unchecked }), queue);
      expect(queue.deadLetters('kafka')).toEqual([]);
      await expectDelivered(topic, range(1, 30));
      await queue.close();
    });
  });

  describe('kafka sink security: ACLs', () => {
    // Without Describe, the Metadata request already refuses the topic and nothing is produced; with Describe
    // only, the Produce request refuses it, after that same request wrote the allowed topic's partitions led by
    // that broker. Idempotent either way: Write on the allowed topic implies IdempotentWrite (KIP-679).
    test.each([
      ['no ACL', false],
      ['Describe only', true],
    ] as const)(
      'Write on one topic; readings for another (%s) are dead letters, the rest arrive, the queue moves on',
      async (_what, describable) => {
        const base = uniqueTopic('sec-acl');
        const allowed = `${base}.temperature`;
        const refused = `${base}.humidity`;
        await newTopic(allowed);
        await newTopic(refused);
        const principal = `User:${limited.name}`;
        const describe = { principal, operation: 'DESCRIBE', permission: 'ALLOW' } as const;
        await createAcls(kafka, [
          { principal, resource: { topic: allowed }, operation: 'WRITE', permission: 'ALLOW' },
          { ...describe, resource: { topic: allowed } },
          ...(describable ? [{ ...describe, resource: { topic: refused } }] : []),
        ]);
        const input = readings(60).map((r, i) => (i % 3 === 1 ? { ...r, metric: 'humidity' } : r));
        const seqsOf = (metric: string): number[] =>
          input.flatMap((r, i) => (r.metric === metric ? [i + 1] : []));
        const queue = newQueue();
        await queue.append(input);
        const sink = kafkaSink(
          { bootstrap: kafka.saslSsl },
          {
            topic: `${base}.{metric}`,
            idempotent: true,
            tls,
            sasl: { mechanism: 'scram-sha-512', username: limited.name, password: limited.password },
          },
        );
        await deliverAll(sink, queue);
        const dead = queue.deadLetters('kafka', 1_000);
        expect(dead.map((d) => d.seq)).toEqual(seqsOf('humidity'));
        for (const d of dead) {
          expect(d.code).toBe('SLUICE_SINK_REJECTED');
          expect(d.message).toMatch(/^TOPIC_AUTHORIZATION_FAILED: Kafka refused it \(topic .*\.humidity\)/);
          expect(d.reading?.metric).toBe('humidity'); // parked whole
        }
        // Isolating the refused readings resends what that first request wrote (same ids), as the README says.
        await expectDelivered(allowed, seqsOf('temperature'), describable ? 'allowed' : 'none');
        expect(await kcatRead(kafka, refused)).toEqual([]);
        await queue.close();
      },
    );

    test('no Write ACL anywhere: idempotent is SLUICE_AUTH (CLUSTER_AUTHORIZATION_FAILED) and keeps the readings; Write on the topic alone fixes it', async () => {
      const topic = uniqueTopic('sec-idem');
      await newTopic(topic);
      // Its own principal: `limited` holds Write ACLs from other tests of the run, which imply IdempotentWrite.
      const cn = `sec-nowrite-${client}-${process.pid}`; // per client: a Write ACL of the other run would do
      const principal = `User:${cn}`;
      const signed = { ...tls, ...(await clientCert(certs, tempDir('sluice-cert-'), cn)) };
      const on = { bootstrap: kafka.mtls };
      const queue = newQueue();
      await queue.append(readings(20));
      const failed = await failThrice(kafkaSink(on, { topic, idempotent: true, tls: signed }), queue);
      // KafkaJS asks for a producer id on connect (InitProducerId), which needs IdempotentWrite or Write.
      expectSetupError(failed, /\(CLUSTER_AUTHORIZATION_FAILED\): Cluster authorization failed/);
      await expectKept(queue, topic);
      // Not idempotent, the same principal connects, and every reading is refused for good: dead letters.
      // Turning idempotence off is no fix for a missing Write ACL; it only changes "kept" into "parked".
      const other = newQueue();
      await other.append(readings(10));
      await deliverAll(kafkaSink(on, { topic, idempotent: false, tls: signed }), other);
      expect(other.deadLetters('kafka').map((d) => [d.seq, d.code])).toEqual(
        range(1, 10).map((s) => [s, 'SLUICE_SINK_REJECTED']),
      );
      expect(other.deadLetters('kafka')[0]?.message).toMatch(/TOPIC_AUTHORIZATION_FAILED/);
      await other.close();
      // Write (and Describe) on the topic and nothing on the cluster; even an explicit DENY of IdempotentWrite
      // does not stop an idempotent producer that may Write a topic (KIP-679, Kafka >= 3.0).
      await createAcls(kafka, [
        { principal, resource: { topic }, operation: 'WRITE', permission: 'ALLOW' },
        { principal, resource: { topic }, operation: 'DESCRIBE', permission: 'ALLOW' },
        { principal, resource: 'cluster', operation: 'IDEMPOTENT_WRITE', permission: 'DENY' },
      ]);
      await deliverAll(kafkaSink(on, { topic, idempotent: true, tls: signed }), queue);
      expect(queue.deadLetters('kafka')).toEqual([]);
      await expectDelivered(topic, range(1, 20));
      await queue.close();
    });
  });
});
