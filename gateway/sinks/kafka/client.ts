// The KafkaJS client built from the sink config: brokers, TLS and SASL (files read here, at connect time),
// and KafkaJS's own log lines routed into the component's logger with an allow-list of fields, so that
// nothing KafkaJS attaches (SASL state, request payloads) can carry a secret into a log.
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import { SluiceError } from '../../errors.js';
import type { KafkaSinkConfig } from './schema.js';

/**
 * KafkaJS retries inside one send, fast, to ride out a leader change without rewinding the queue; anything
 * longer is the runner's backoff (one retry policy, from the config). An idempotent producer needs >= 1.
 */
export const CLIENT_RETRIES = 2;

async function readSecretFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new SluiceError('SLUICE_CONFIG_READ', `cannot read the Kafka ${what} file ${path}`, {
      hint: 'check the path and that the gateway user may read it',
      cause: err,
    });
  }
}

async function tlsOptions(tls: NonNullable<KafkaSinkConfig['tls']>): Promise<ConnectionOptions> {
  const out: ConnectionOptions = {};
  if (tls.ca_file !== undefined) out.ca = await readSecretFile(tls.ca_file, 'TLS CA');
  if (tls.cert_file !== undefined) out.cert = await readSecretFile(tls.cert_file, 'TLS certificate');
  if (tls.key_file !== undefined) out.key = await readSecretFile(tls.key_file, 'TLS key');
  // The chain is always verified; only the host name check can be turned off (IP-addressed lab brokers).
  if (!tls.verify_hostname) out.checkServerIdentity = () => undefined;
  return out;
}

async function saslOptions(sasl: NonNullable<KafkaSinkConfig['sasl']>): Promise<SASLOptions> {
  const password =
    sasl.password ?? (await readSecretFile(sasl.password_file ?? '', 'SASL password')).replace(/\r?\n$/, '');
  return { mechanism: sasl.mechanism, username: sasl.username, password };
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
/** Where KafkaJS's log lines go: the component's logger, reached from the producer thread by message. */
export type LogSink = (level: LogLevel, fields: Record<string, unknown>, message: string) => void;

const LEVELS: Record<number, LogLevel> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * KafkaJS logs every failed request at ERROR; the runner already reports each failed write once, so those
 * lines go to debug. Only these fields are kept.
 */
function kafkaLogCreator(log: LogSink): () => (entry: LogEntry) => void {
  return () => (entry: LogEntry) => {
    const level = entry.level <= logLevel.WARN ? 'debug' : (LEVELS[entry.level] ?? 'debug');
    const { message, broker, error, retryCount, topic } = entry.log as Record<string, unknown>;
    log(level, { kafkajs: entry.namespace, broker, error, retryCount, topic }, String(message));
  };
}

export async function createKafka(config: KafkaSinkConfig, log: LogSink): Promise<Kafka> {
  const options: KafkaConfig = {
    clientId: config.client_id,
    brokers: [...config.brokers],
    connectionTimeout: config.connection_timeout_ms,
    requestTimeout: config.request_timeout_ms,
    retry: {
      retries: CLIENT_RETRIES,
      initialRetryTime: config.retry.initial_ms,
      maxRetryTime: config.retry.max_ms,
      multiplier: config.retry.multiplier,
    },
    logLevel: logLevel.INFO,
    logCreator: kafkaLogCreator(log),
  };
  if (config.tls !== undefined) options.ssl = await tlsOptions(config.tls);
  if (config.sasl !== undefined) options.sasl = await saslOptions(config.sasl);
  return new Kafka(options);
}
