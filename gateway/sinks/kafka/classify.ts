// What a KafkaJS error means for Sluice: retry the batch (the broker or network will recover), park the
// readings it concerns as dead letters (the broker refused them for good), or report a setup problem that
// only an operator can fix (credentials, ACLs, TLS), which the runner keeps retrying, loudly.
// Duck-typed, not instanceof: kafkajs is CommonJS and spreads its error classes into module.exports, which
// Node's ESM named-export detection does not see (import { KafkaJSProtocolError } fails at runtime).

/** What KafkaJSProtocolError carries: the broker's error, by name and number. */
interface ProtocolError extends Error {
  readonly type: string;
  readonly code: number;
}

function isProtocolError(e: unknown): e is ProtocolError {
  return (
    e instanceof Error &&
    typeof (e as Partial<ProtocolError>).type === 'string' &&
    typeof (e as Partial<ProtocolError>).code === 'number'
  );
}

export type Disposition = 'retry' | 'reject' | 'setup';

export interface Classified {
  readonly disposition: Disposition;
  /** A stable label for metrics: the Kafka error type (MESSAGE_TOO_LARGE) or the KafkaJS error name. */
  readonly kind: string;
  readonly message: string;
}

/**
 * Protocol errors that concern the records or the topic they were sent to: retrying the same records to
 * the same topic cannot succeed, so they become dead letters (kafka.apache.org/protocol#protocol_error_codes).
 */
const RECORD_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'INVALID_TIMESTAMP',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'POLICY_VIOLATION',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
]);

/** Errors that no record can get past: every write fails until the setup changes. */
const SETUP_ERRORS = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_REQUIRED_ACKS',
  'KafkaJSSASLAuthenticationError',
]);

/** Node TLS error codes that mean the certificates or host names do not match the config. */
const TLS_CODES =
  /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_)/;

/** The chain of causes, outermost first (KafkaJS wraps retried errors in KafkaJSNumberOfRetriesExceeded). */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  let cur: unknown = err;
  while (cur !== undefined && cur !== null && out.length < 8 && !out.includes(cur)) {
    out.push(cur);
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return out;
}

export function classify(err: unknown): Classified {
  const causes = chain(err);
  const message =
    causes.map((e) => (e instanceof Error ? e.message : String(e))).find((m) => m.length > 0) ?? 'unknown';
  // The innermost protocol error is what the broker said; wrappers only say that retries ran out.
  const protocol = causes.filter(isProtocolError).pop();
  if (protocol) {
    const kind = protocol.type;
    if (RECORD_ERRORS.has(kind)) return { disposition: 'reject', kind, message: protocol.message };
    if (SETUP_ERRORS.has(kind)) return { disposition: 'setup', kind, message: protocol.message };
    return { disposition: 'retry', kind, message: protocol.message };
  }
  const inner = causes[causes.length - 1];
  const kind = inner instanceof Error ? inner.name : 'unknown';
  if (SETUP_ERRORS.has(kind)) return { disposition: 'setup', kind, message };
  for (const e of causes) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_CODES.test(code))
      return { disposition: 'setup', kind: code, message };
  }
  // Connection refused or closed, request timeouts, metadata not loaded, no broker: all pass with time.
  return { disposition: 'retry', kind, message };
}

/** Connection-level failures, after which the runner should call connect() again. */
export function isUnreachable(kind: string, message: string): boolean {
  return /Connection|BrokerNotFound|NoBrokerAvailable/.test(kind) || /producer is disconnected/.test(message);
}
