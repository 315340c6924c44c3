// What a KafkaJS or @platformatic/kafka error means for Sluice: retry the batch (the broker or network will
// recover), park the readings it concerns as dead letters (the broker refused them for good), or report a
// setup problem that only an operator can fix (credentials, ACLs, TLS), which the runner keeps retrying, loudly.
// Duck-typed, not instanceof: kafkajs is CommonJS and spreads its error classes into module.exports, which
// Node's ESM named-export detection does not see (import { KafkaJSProtocolError } fails at runtime), and
// errors reach here from the producer thread as copies (wire.ts).

/**
 * The broker's error, by name and number: KafkaJSProtocolError's type and code, or @platformatic/kafka's
 * ProtocolError's apiId and apiCode (its `code` is its own PLT_KFK_PROTOCOL).
 */
interface KafkaJSProtocolError extends Error {
  readonly type: string;
  readonly code: number;
}
interface PlatformaticProtocolError extends Error {
  readonly apiId: string;
  readonly apiCode: number;
}

/** The broker's error name, when `e` is a protocol error of either client. */
function protocolKind(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const k = e as Partial<KafkaJSProtocolError>;
  if (typeof k.type === 'string' && typeof k.code === 'number') return k.type;
  const p = e as Partial<PlatformaticProtocolError>;
  if (typeof p.apiId === 'string' && typeof p.apiCode === 'number') return p.apiId;
  return undefined;
}

/** @platformatic/kafka's own error codes (GenericError.code): PLT_KFK_NETWORK, PLT_KFK_AUTHENTICATION, ... */
function platformaticCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('PLT_KFK_') ? code : undefined;
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

/** Most errors walked: @platformatic/kafka nests an aggregate per retry and per broker tried. */
const MAX_CHAIN = 64;

/**
 * The causes, outermost first, depth first: KafkaJS wraps retried errors in KafkaJSNumberOfRetriesExceeded
 * (a cause chain); @platformatic/kafka in MultipleErrors, an AggregateError of every attempt (its `errors`),
 * whose members carry causes of their own. The last found is the innermost of the last attempt.
 */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  const walk = (cur: unknown, depth: number): void => {
    if (cur === undefined || cur === null || out.length >= MAX_CHAIN || depth > 8 || out.includes(cur))
      return;
    out.push(cur);
    if (!(cur instanceof Error)) return;
    const errors = (cur as { errors?: unknown }).errors;
    if (Array.isArray(errors)) for (const e of errors as unknown[]) walk(e, depth + 1);
    walk(cur.cause, depth + 1);
  };
  walk(err, 0);
  return out;
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export function classify(err: unknown): Classified {
  const causes = chain(err);
  const platformatic = causes.some((e) => platformaticCode(e) !== undefined);
  const outer = causes.map(messageOf).find((m) => m.length > 0) ?? 'unknown';
  const innermost = messageOf(causes[causes.length - 1]);
  // @platformatic/kafka's outer messages only say what failed how often ("metadata failed 3 times."): the
  // innermost one says why.
  const message =
    platformatic && innermost !== outer && innermost.length > 0 ? `${outer} ${innermost}` : outer;
  // The innermost protocol error is what the broker said; wrappers only say that retries ran out.
  const protocol = causes.filter((e) => protocolKind(e) !== undefined).pop() as Error | undefined;
  if (protocol) {
    const kind = protocolKind(protocol) ?? 'unknown';
    // @platformatic/kafka's message is the code's description; the broker's own words come beside it.
    const server = (protocol as { serverErrorMessage?: unknown }).serverErrorMessage;
    const said =
      (protocol.message.length > 0 ? protocol.message : kind) +
      (typeof server === 'string' && server.length > 0 ? ` ${server}` : '');
    if (RECORD_ERRORS.has(kind)) return { disposition: 'reject', kind, message: said };
    if (SETUP_ERRORS.has(kind)) return { disposition: 'setup', kind, message: said };
    return { disposition: 'retry', kind, message: said };
  }
  const inner = causes[causes.length - 1];
  // KafkaJS names its errors; @platformatic/kafka's are all `Error` with a code: the innermost code is the kind.
  const codes = causes.map(platformaticCode).filter((c) => c !== undefined);
  const kind = platformatic ? (codes.pop() ?? 'unknown') : inner instanceof Error ? inner.name : 'unknown';
  if (SETUP_ERRORS.has(kind)) return { disposition: 'setup', kind, message };
  for (const e of causes) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_CODES.test(code))
      return { disposition: 'setup', kind: code, message };
  }
  // @platformatic/kafka's AuthenticationError wraps both a refused login and a connection lost while
  // logging in ("Cannot find a suitable SASL mechanism." over "Connection closed"): only the first is setup.
  const auth = causes.findIndex((e) => platformaticCode(e) === 'PLT_KFK_AUTHENTICATION');
  if (auth >= 0 && !causes.slice(auth + 1).some((e) => platformaticCode(e) === 'PLT_KFK_NETWORK'))
    return { disposition: 'setup', kind: 'PLT_KFK_AUTHENTICATION', message };
  // Connection refused or closed, request timeouts, metadata not loaded, no broker: all pass with time.
  return { disposition: 'retry', kind, message };
}

/** Connection-level failures, after which the runner should call connect() again. */
export function isUnreachable(kind: string, message: string): boolean {
  return (
    /Connection|BrokerNotFound|NoBrokerAvailable|PLT_KFK_NETWORK/.test(kind) ||
    /producer is disconnected/.test(message)
  );
}
