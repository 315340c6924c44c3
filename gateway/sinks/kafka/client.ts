// The KafkaJS client built from the sink config: brokers, TLS and SASL (files read here, at connect time),
// and KafkaJS's own log lines routed into the component's logger with an allow-list of fields, so that
// nothing KafkaJS attaches (SASL state, request payloads) can carry a secret into a log.
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import { readPassword } from '../../config/credentials.js';
import { clientTlsOptions } from '../../config/tls.js';
import type { KafkaSinkConfig } from './schema.js';
import { CLIENT_RETRIES } from './wire.js';

function saslOptions(sasl: NonNullable<KafkaSinkConfig['sasl']>): SASLOptions {
  // The schema requires one of password and password_file, so the reader finds one.
  const password = readPassword(sasl) ?? '';
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

export function createKafka(config: KafkaSinkConfig, log: LogSink): Kafka {
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
  if (config.tls !== undefined) options.ssl = clientTlsOptions(config.tls);
  if (config.sasl !== undefined) options.sasl = saslOptions(config.sasl);
  return new Kafka(options);
}
