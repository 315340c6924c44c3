// Kafka test peer: drives librdkafka's mock cluster (mock-cluster.c, built by test/setup/gcc.mjs), a real
// Kafka-protocol cluster on loopback with fault injection, so sinks are tested against the wire protocol.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export { KAFKA_PEER_INSTALL } from './process.js';
export { kcatConsume, kcatProduce } from './kcat.js';
export type { KcatConsumeOptions, KcatMessage, KcatProduceOptions } from './kcat.js';

const here = dirname(fileURLToPath(import.meta.url));
const SOURCE = join(here, 'mock-cluster.c');
// Where test/setup/gcc.mjs (HELPERS) puts it; test/.peers/ is git-ignored.
const BINARY = join(here, '..', '..', '.peers', 'kafka-mock-cluster');

/** Kafka ApiKeys the C peer knows by name; any other key can be passed as a number. */
export type ApiKeyName =
  | 'Produce'
  | 'Fetch'
  | 'ListOffsets'
  | 'Metadata'
  | 'OffsetCommit'
  | 'OffsetFetch'
  | 'FindCoordinator'
  | 'JoinGroup'
  | 'Heartbeat'
  | 'LeaveGroup'
  | 'SyncGroup'
  | 'ApiVersions'
  | 'InitProducerId'
  | 'AddPartitionsToTxn'
  | 'AddOffsetsToTxn'
  | 'EndTxn'
  | 'TxnOffsetCommit';

/**
 * A librdkafka error name without its RD_KAFKA_RESP_ERR_ prefix (NOT_LEADER_FOR_PARTITION,
 * REQUEST_TIMED_OUT; local ones keep their underscore: _TRANSPORT makes the broker drop the
 * connection), or the numeric code.
 */
export type KafkaErrorCode = string | number;

export interface MockTopic {
  name: string;
  partitions: number;
  /** Defaults to 1; at most the broker count. */
  replication?: number;
}

export interface MockClusterOptions {
  /** Broker ids are 1..brokers. Defaults to 3. */
  brokers?: number;
  topics?: readonly MockTopic[];
  startTimeoutMs?: number;
}

export interface MockCluster {
  /** host:port per broker, in broker-id order, all on 127.0.0.1. */
  readonly bootstrap: string[];
  /** Drops the broker's connections and refuses new ones; leadership does not move. -1: all brokers. */
  down(brokerId: number): Promise<void>;
  up(brokerId: number): Promise<void>;
  /** Delays every response of the broker by `ms`. -1: all brokers. */
  rtt(brokerId: number, ms: number): Promise<void>;
  /** The next `codes.length` requests of this ApiKey, on any broker, fail with these codes in order. */
  pushErrors(apiKey: ApiKeyName | number, codes: readonly KafkaErrorCode[]): Promise<void>;
  clearErrors(apiKey: ApiKeyName | number): Promise<void>;
  /**
   * Like pushErrors but only for requests reaching `brokerId`, each optionally delayed; this stack
   * can be counted, so a test can prove its client consumed every injected error.
   * Beware (librdkafka 2.0.2): from then on that broker consults its own stack, even when empty,
   * and never the cluster-level one for this ApiKey, so later pushErrors skip that broker.
   */
  pushBrokerErrors(
    brokerId: number,
    apiKey: ApiKeyName | number,
    errors: readonly (KafkaErrorCode | { code: KafkaErrorCode; rttMs: number })[],
  ): Promise<void>;
  /** How many errors pushed with pushBrokerErrors are still waiting for a request. */
  brokerErrorsLeft(brokerId: number, apiKey: ApiKeyName | number): Promise<number>;
  /** Topics must be created here (or at start): the mock has no CreateTopics API. */
  createTopic(name: string, partitions: number, replication?: number): Promise<void>;
  /** Moves partition leadership; -1 leaves the partition without a leader. */
  setLeader(topic: string, partition: number, brokerId: number): Promise<void>;
  /** Stops the cluster; safe to call twice. */
  close(): Promise<void>;
}

/** What to run when the binary is missing or stale: the setup that `npm test` runs first builds it. */
export const MOCK_CLUSTER_SETUP = 'run node test/setup/index.mjs (npm test runs it first)';

/**
 * The path of the mock cluster binary, which test/setup/gcc.mjs builds from mock-cluster.c (tests never
 * compile: several workers building at once cost more than the tests). Rejects with what to run when the
 * binary is missing or older than its source, rather than testing yesterday's code.
 */
export async function mockClusterBinary(): Promise<string> {
  const source = await stat(SOURCE);
  const binary = await stat(BINARY).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (binary === undefined) {
    throw new Error(`the Kafka mock cluster is not built (${BINARY}): ${MOCK_CLUSTER_SETUP}`);
  }
  if (binary.mtimeMs < source.mtimeMs) {
    throw new Error(`the Kafka mock cluster ${BINARY} is older than mock-cluster.c: ${MOCK_CLUSTER_SETUP}`);
  }
  return BINARY;
}

/** @deprecated The setup builds the binary now; this only checks it, like mockClusterBinary. */
export const buildMockCluster = mockClusterBinary;

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/; // Kafka's own rule, which also keeps commands one token

function checkTopic(name: string): string {
  if (!TOPIC_NAME.test(name)) throw new Error(`invalid Kafka topic name: ${JSON.stringify(name)}`);
  return name;
}

function checkCode(code: KafkaErrorCode): string {
  const text = String(code);
  if (!/^-?[A-Za-z0-9_]+$/.test(text)) throw new Error(`invalid Kafka error code: ${JSON.stringify(text)}`);
  return text;
}

interface Pending {
  command: string;
  resolve: (detail: string) => void;
  reject: (err: Error) => void;
}

/** Starts a cluster on fresh ephemeral loopback ports and waits until it listens. */
export async function startMockCluster(options: MockClusterOptions = {}): Promise<MockCluster> {
  const binary = await mockClusterBinary();
  const brokers = options.brokers ?? 3;
  const topicArgs = (options.topics ?? []).map(
    (t) => `${checkTopic(t.name)}:${t.partitions}:${t.replication ?? 1}`,
  );
  const child = spawn(binary, [String(brokers), ...topicArgs], { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise<MockCluster>((resolve, reject) => {
    const session = new Session(child, options.startTimeoutMs ?? 10_000, resolve, reject);
    session.listen();
  });
}

/** Owns the child process: matches each reply line to the oldest pending command. */
class Session {
  private readonly pending: Pending[] = [];
  private stderrTail = '';
  private readonly exited: Promise<void>;
  private exitReason: Error | undefined;
  private started = false;
  private readonly startTimer: NodeJS.Timeout;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    startTimeoutMs: number,
    private readonly onStarted: (cluster: MockCluster) => void,
    private readonly onStartFailed: (err: Error) => void,
  ) {
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    this.startTimer = setTimeout(() => {
      this.fail(new Error(`Kafka mock cluster did not start within ${startTimeoutMs} ms`));
      child.kill('SIGKILL');
    }, startTimeoutMs);
  }

  listen(): void {
    const { child } = this;
    child.stderr.setEncoding('utf8');
    // Kept for error messages: librdkafka explains its failures there.
    child.stderr.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      this.fail(err.code === 'ENOENT' ? new Error(`${BINARY} is gone: ${MOCK_CLUSTER_SETUP}`) : err);
    });
    // EPIPE means the child died; 'close' follows and reports why, so keep this as context only.
    child.stdin.on('error', (err) => {
      this.stderrTail += `\n[stdin: ${err.message}]`;
    });
    child.on('close', (code, signal) => {
      this.fail(new Error(`Kafka mock cluster exited (code ${code}, signal ${signal}):\n${this.stderrTail}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
  }

  private onLine(line: string): void {
    if (!this.started) {
      const match = /^BOOTSTRAP (\S+)$/.exec(line);
      if (!match?.[1]) {
        this.fail(new Error(`Kafka mock cluster: unexpected first line ${JSON.stringify(line)}`));
        this.child.kill('SIGKILL');
        return;
      }
      this.started = true;
      clearTimeout(this.startTimer);
      this.onStarted(this.api(match[1].split(',')));
      return;
    }
    const next = this.pending.shift();
    if (!next) return; // a reply nobody awaits cannot happen with one writer; tolerate it
    if (line.startsWith('OK')) next.resolve(line.slice(2).trim());
    else next.reject(new Error(`Kafka mock cluster: "${next.command}" failed: ${line}`));
  }

  private fail(err: Error): void {
    this.exitReason ??= err;
    clearTimeout(this.startTimer);
    if (!this.started) {
      this.started = true;
      this.onStartFailed(err);
    }
    for (const p of this.pending.splice(0)) p.reject(err);
  }

  private send(command: string): Promise<string> {
    if (this.exitReason) return Promise.reject(this.exitReason);
    return new Promise((resolve, reject) => {
      this.pending.push({ command, resolve, reject });
      this.child.stdin.write(`${command}\n`);
    });
  }

  private async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      // EOF makes the peer destroy the cluster and exit; signals are the fallback for a wedged one.
      this.child.stdin.end();
      const term = setTimeout(() => this.child.kill('SIGTERM'), 5_000);
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 8_000);
      await this.exited;
      clearTimeout(term);
      clearTimeout(kill);
    }
    await this.exited;
  }

  private api(bootstrap: string[]): MockCluster {
    const int = (n: number): string => {
      if (!Number.isInteger(n)) throw new Error(`expected an integer, got ${n}`);
      return String(n);
    };
    const key = (k: ApiKeyName | number): string => (typeof k === 'number' ? int(k) : k);
    // async, so a bad argument surfaces as a rejection like every other failure.
    const ok = async (command: () => string): Promise<void> => {
      await this.send(command());
    };
    return {
      bootstrap,
      down: (id) => ok(() => `down ${int(id)}`),
      up: (id) => ok(() => `up ${int(id)}`),
      rtt: (id, ms) => ok(() => `rtt ${int(id)} ${int(ms)}`),
      pushErrors: (apiKey, codes) =>
        ok(() => `push_errors ${key(apiKey)} ${codes.length} ${codes.map(checkCode).join(' ')}`),
      clearErrors: (apiKey) => ok(() => `clear_errors ${key(apiKey)}`),
      pushBrokerErrors: (id, apiKey, errors) =>
        ok(() => {
          const specs = errors.map((e) =>
            typeof e === 'object' ? `${checkCode(e.code)}@${int(e.rttMs)}` : checkCode(e),
          );
          return `push_broker_errors ${int(id)} ${key(apiKey)} ${specs.length} ${specs.join(' ')}`;
        }),
      brokerErrorsLeft: async (id, apiKey) => {
        const detail = await this.send(`broker_errors_left ${int(id)} ${key(apiKey)}`);
        return Number(/(\d+)$/.exec(detail)?.[1] ?? Number.NaN);
      },
      createTopic: (name, partitions, replication = 1) =>
        ok(() => `topic ${checkTopic(name)} ${int(partitions)} ${int(replication)}`),
      setLeader: (topic, partition, id) =>
        ok(() => `leader ${checkTopic(topic)} ${int(partition)} ${int(id)}`),
      close: () => this.close(),
    };
  }
}
