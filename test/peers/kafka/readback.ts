// Reading a topic back with clients that are not the one under test: kcat (librdkafka) for every test, and
// the console tools shipped in Kafka's own jars (the Java client) where a test wants Kafka's own view or
// needs SCRAM: Debian 12's librdkafka 2.0.2 cannot authenticate with SCRAM against Kafka 4.x (it repeats
// the client nonce in its final message, which Kafka 4 rejects as RFC 5802 says; fixed in librdkafka 2.6.1,
// confluentinc/librdkafka#4895), so kcat reads over PLAINTEXT and TLS only.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kcatConsume, type KcatMessage } from '../kafka-mock/kcat.js';
import { spawnJvm } from '../jvm.js';
import type { KafkaClusterInfo } from './info.js';

export type { KcatMessage } from '../kafka-mock/kcat.js';

/** Every message of the topic as kcat reads it over PLAINTEXT (by partition, then offset). */
export function kcatRead(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  topic: string,
  timeoutMs = 30_000,
): Promise<KcatMessage[]> {
  return kcatConsume({ bootstrap: info.bootstrap, topic, timeoutMs });
}

export interface ConsoleMessage {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

// Fields apart by a byte that JSON values, device keys and header values written by Sluice never hold.
const SEP = '\u0001';

/**
 * Reads `expected` messages of the topic from the beginning with Kafka's own kafka-console-consumer (the Java
 * client, a JVM of its own: a few seconds), or fails when fewer arrive within the timeout.
 */
/** Java client settings (security.protocol, sasl.jaas.config, ...) for the console tools. */
export type ClientProps = Readonly<Record<string, string>>;

export interface ConsoleOptions {
  /** Brokers to bootstrap from; PLAINTEXT by default. */
  bootstrap?: readonly string[];
  /** Client settings written to a --command-config / --consumer.config file. */
  props?: ClientProps;
  timeoutMs?: number;
}

/** Writes client settings to a temp properties file for the duration of `fn`. */
async function withProps<T>(props: ClientProps | undefined, fn: (args: string[]) => Promise<T>): Promise<T> {
  if (props === undefined) return fn([]);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-kafka-client-'));
  const file = join(dir, 'client.properties');
  writeFileSync(
    file,
    Object.entries(props)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );
  try {
    return await fn([file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function consoleConsume(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  topic: string,
  expected: number,
  options: ConsoleOptions = {},
): Promise<ConsoleMessage[]> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return withProps(options.props, (config) =>
    consume(options.bootstrap ?? info.bootstrap, topic, expected, timeoutMs, config),
  );
}

function consume(
  bootstrap: readonly string[],
  topic: string,
  expected: number,
  timeoutMs: number,
  config: string[],
): Promise<ConsoleMessage[]> {
  return new Promise((resolve, reject) => {
    const child = spawnJvm(
      'kafka',
      'org.apache.kafka.tools.consumer.ConsoleConsumer',
      [
        ...(config[0] === undefined ? [] : ['--command-config', config[0]]),
        '--bootstrap-server',
        bootstrap.join(','),
        '--topic',
        topic,
        '--from-beginning',
        '--max-messages',
        String(expected),
        '--timeout-ms',
        String(timeoutMs),
        '--formatter-property',
        'print.timestamp=true',
        '--formatter-property',
        'print.partition=true',
        '--formatter-property',
        'print.offset=true',
        '--formatter-property',
        'print.headers=true',
        '--formatter-property',
        'print.key=true',
        '--formatter-property',
        `key.separator=${SEP}`,
        '--formatter-property',
        `line.separator=\n`,
        '--formatter-property',
        `headers.separator=${SEP}`,
        '--formatter-property',
        'null.literal=\u0002',
      ],
      { heap: '128m', jvmArgs: ['-Dlog4j2.level=WARN'] },
    );
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-3000)));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const lines = out.split('\n').filter((l) => l.length > 0);
      const messages = lines.map(parse);
      if (messages.length < expected) {
        reject(
          new Error(
            `kafka-console-consumer read ${messages.length} of ${expected} messages of ${topic} ` +
              `(exit ${code ?? signal}):\n${err}`,
          ),
        );
        return;
      }
      resolve(messages);
    });
  });
}

/** `CreateTime:<ts> SEP Partition:<p> SEP Offset:<o> SEP <h1:v1 SEP h2:v2...> SEP <key> SEP <value>`. */
function parse(line: string): ConsoleMessage {
  // DefaultMessageFormatter puts key.separator between every printed field.
  const fields = line.split(SEP);
  const ts = /^CreateTime:(-?\d+)$/.exec(fields.shift() ?? '');
  const partition = /^Partition:(\d+)$/.exec(fields.shift() ?? '');
  const offset = /^Offset:(\d+)$/.exec(fields.shift() ?? '');
  const value = fields.pop();
  const key = fields.pop();
  if (!ts || !partition || !offset || value === undefined || key === undefined) {
    throw new Error(`unexpected kafka-console-consumer line: ${JSON.stringify(line)}`);
  }
  const headers = fields
    .filter((f) => f !== 'NO_HEADERS')
    .map((h): [string, string] => {
      const i = h.indexOf(':');
      return [h.slice(0, i), h.slice(i + 1)];
    });
  const nul = (s: string): string | null => (s === '\u0002' ? null : s);
  return {
    timestamp: Number(ts[1]),
    partition: Number(partition[1]),
    offset: Number(offset[1]),
    key: nul(key),
    value: nul(value),
    headers,
  };
}

/**
 * Produces `key<TAB>value` lines with Kafka's own console producer (acks all), resolving once it exited 0;
 * its error output otherwise. For listeners kcat cannot use (SCRAM, above).
 */
export function consoleProduce(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  topic: string,
  messages: readonly { key: string; value: string }[],
  options: ConsoleOptions = {},
): Promise<void> {
  return withProps(
    options.props,
    (config) =>
      new Promise<void>((resolve, reject) => {
        const child = spawnJvm(
          'kafka',
          'org.apache.kafka.tools.ConsoleProducer',
          [
            ...(config[0] === undefined ? [] : ['--command-config', config[0]]),
            '--bootstrap-server',
            (options.bootstrap ?? info.bootstrap).join(','),
            '--topic',
            topic,
            '--reader-property',
            'parse.key=true',
            '--reader-property',
            'key.separator=\t',
            '--producer-property',
            'acks=all',
            '--producer-property',
            'delivery.timeout.ms=15000',
            '--producer-property',
            'request.timeout.ms=10000',
            '--producer-property',
            'max.block.ms=10000',
          ],
          { heap: '128m', stdin: true },
        );
        let err = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
        child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
        child.stdout?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
        child.once('error', reject);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          // The console producer logs a failed send and still exits 0: an ERROR line is a failure too.
          if (code === 0 && !/ERROR|Exception/.test(err)) resolve();
          else reject(new Error(`kafka-console-producer to ${topic} exited ${code ?? signal}:\n${err}`));
        });
        child.stdin?.end(messages.map((m) => `${m.key}\t${m.value}\n`).join(''));
      }),
  );
}

/** Java client settings for a SCRAM user over the SASL_SSL listener. */
export function scramProps(
  info: Pick<KafkaClusterInfo, 'certs'>,
  username: string,
  password: string,
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' = 'SCRAM-SHA-256',
): ClientProps {
  return {
    'security.protocol': 'SASL_SSL',
    'sasl.mechanism': mechanism,
    'sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username="${username}" password="${password}";`,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': info.certs.caFile,
  };
}

/**
 * Every message value of the topic as raw bytes, in partition then offset order, read by kcat with a
 * length prefix per value (`-f '%R%s'`), so binary values (CBOR) arrive unmangled. Null values are absent.
 */
export function kcatReadValues(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  topic: string,
  timeoutMs = 30_000,
): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'kcat',
      ['-C', '-e', '-q', '-b', info.bootstrap.join(','), '-t', topic, '-f', '%R%s'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const chunks: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`kcat read of ${topic} exited ${code ?? signal}:\n${err}`));
        return;
      }
      const all = Buffer.concat(chunks);
      const values: Buffer[] = [];
      for (let at = 0; at + 4 <= all.length;) {
        const size = all.readUInt32BE(at);
        values.push(all.subarray(at + 4, at + 4 + size));
        at += 4 + size;
      }
      resolve(values);
    });
  });
}
