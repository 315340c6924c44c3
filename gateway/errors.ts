// Every error Sluice raises on purpose: a stable code, whether retrying can help, and what to do about it.
// The catalogue below is the one place a code's meaning, default `retriable` flag and default hint live.

/** What the catalogue says about one code. */
export interface CodeEntry {
  /** True when the same operation may succeed later (network, full queue); false for bad input or config. */
  readonly retriable: boolean;
  /** What to do, as one sentence; a throw site passes a more specific one when it knows more (a file, an option). */
  readonly hint: string;
  /** What the code means, for the error-code table in README.md (`sluice config docs`). */
  readonly means: string;
}

/**
 * Each code's defaults (fastify's lib/errors.js, KafkaJS's src/errors.js keep theirs in one place too). A
 * throw site passes facts (message, cause, a hint naming the file); one that overrides `retriable` says why.
 * Who reads `retriable`: the MQTT broker and client sources withhold the PUBACK of a reading whose append
 * failed retriably (the device re-sends it) and acknowledge, as a bad message, one that failed for good; the
 * sink runner retries every failure, logging a non-retriable one as an error with its hint.
 */
const CATALOGUE = {
  SLUICE_CONFIG_INVALID: {
    retriable: false,
    hint: 'fix the config at the path the message names; `sluice check FILE` lists every problem',
    means:
      'The config (a file, a remote bundle or a driver option) breaks the schema or a rule across options.',
  },
  SLUICE_CONFIG_READ: {
    retriable: false,
    hint: 'check the path and that the gateway user may read it',
    means: 'A file the config names (the config itself, a key, a password or token file) cannot be read.',
  },
  SLUICE_QUEUE_FULL: {
    retriable: true,
    hint: 'let the sinks catch up, free disk space or raise queue.max_bytes; readings are refused until then',
    means: 'The queue or the disk holding it has no room for the append; nothing of it was stored.',
  },
  SLUICE_QUEUE_CLOSED: {
    retriable: true,
    hint: 'the gateway is stopping or replacing its queue; the writer retries after the restart',
    means: 'An append or ack reached a queue that is closing; nothing of it was stored.',
  },
  SLUICE_QUEUE_IO: {
    // Retriable by default: the readings are not stored, so no source may take them as handled. The MQTT
    // broker withholds the PUBACK (the device re-sends after reconnecting), serial counts them as failed.
    // Not retriable only where no writer waits on it: opening the queue at boot, a stored entry that no
    // Sluice of this version can decode, the CLI finding no queue.
    retriable: true,
    hint: 'check free disk space and the data directory permissions (gateway.data_dir)',
    means: 'The queue store (LMDB) failed to open, read or commit; an append that failed was not stored.',
  },
  SLUICE_READING_INVALID: {
    retriable: false,
    hint: 'fix the sender or the topic mapping; the reading is counted as rejected',
    means: 'A reading lacks what the queue needs (a metric, a value, a device).',
  },
  SLUICE_READING_TOO_LARGE: {
    retriable: false,
    hint: 'raise queue.max_bytes or send smaller payloads',
    means: 'One append is larger than the whole queue may hold; it can never fit.',
  },
  SLUICE_CURSOR_UNKNOWN: {
    retriable: false,
    hint: 'cursors are created when a sink starts; list them with `sluice queue stats`',
    means: 'No queue cursor has that name.',
  },
  SLUICE_SINK_WRITE: {
    retriable: true,
    hint: 'readings stay queued and are resent; see the message for what the upstream said',
    means: 'Writing a batch upstream failed; the batch is rewound and resent.',
  },
  SLUICE_SINK_REJECTED: {
    retriable: false,
    hint: 'inspect with `sluice queue dead-letters SINK`; fix the reading or the sink config',
    means: 'The upstream refused readings for good; they are parked as dead letters, the rest flows on.',
  },
  SLUICE_SOURCE_IO: {
    retriable: false,
    hint: 'check the device, port or listener the source opens',
    means: 'A source could not open what it reads from (a listener, a serial port), so it did not start.',
  },
  SLUICE_PAYLOAD_INVALID: {
    retriable: false,
    hint: 'fix the sender, or the decoder the topic mapping chooses',
    means: 'A message from a device cannot be decoded or is larger than allowed.',
  },
  SLUICE_AUTH: {
    retriable: false,
    hint: 'check the credentials, certificates and permissions the message names',
    means: 'Authentication or authorization failed (a device, an upstream login, TLS, ACLs, tokens).',
  },
  SLUICE_DEPENDENCY_MISSING: {
    retriable: false,
    hint: 'install the optional package the message names (and the system library it builds against), then restart',
    means:
      'The config needs an optional package (e.g. `kerberos` for HDFS Kerberos auth) that is not installed or did not build.',
  },
  SLUICE_UPSTREAM_UNREACHABLE: {
    retriable: true,
    hint: 'check that the upstream runs and that the network reaches it; readings stay queued',
    means: 'The upstream (a broker, a namenode, a gateway) did not answer or the connection dropped.',
  },
  SLUICE_UPSTREAM_QUOTA: {
    retriable: false,
    hint: 'free space or raise the quota on the upstream; readings stay queued and are retried',
    means: 'The upstream is out of space or namespace quota (HDFS DSQuota/NSQuota): an operator must act.',
  },
  SLUICE_SQL_QUERY: {
    // Retrying helps once the database or the config is fixed; the sql source retries with backoff, never
    // in a tight loop, and its health shows the SQLSTATE meanwhile.
    retriable: false,
    hint: 'fix the query, table or columns of the sql source (or the grants); the SQLSTATE in the message says what the database refused',
    means: 'The database refused the sql source’s import query (SQLSTATE and message in the error).',
  },
  SLUICE_SQL_CHECK_BACKWARDS: {
    retriable: false,
    hint: 'the table was truncated, restored or its check column rewritten: rows at or below the last value are not imported again; to import them, give the source a new name or start_value',
    means:
      'The sql source’s check column went below the last imported value; nothing is re-imported silently.',
  },
  SLUICE_SHUTDOWN: {
    retriable: false,
    hint: 'the gateway is stopping; try again once it runs',
    means: 'The operation was cut short because the gateway is stopping.',
  },
  SLUICE_USAGE: {
    retriable: false,
    hint: 'run `sluice --help`, or the command with --help, for its usage',
    means: 'A command line is wrong: a missing argument, an unknown command or option.',
  },
  SLUICE_FLEET_REJECTED: {
    retriable: false,
    hint: 'see the reason in `sluice fleet status`; sign a valid bundle with a higher version',
    means: 'A remote config bundle was refused (signature, version, key, or the config in it).',
  },
  SLUICE_INTERNAL: {
    retriable: false,
    hint: 'this is a bug in Sluice: report it with the log lines around it',
    means: 'Sluice broke one of its own rules.',
  },
} as const satisfies Record<string, CodeEntry>;

export type ErrorCode = keyof typeof CATALOGUE;

/** The catalogue, read-only, in its order (for docs and tests). */
export const errorCatalogue: Readonly<Record<ErrorCode, CodeEntry>> = Object.freeze(CATALOGUE);

export const errorCodes = Object.keys(CATALOGUE) as readonly ErrorCode[];

export interface SluiceErrorOptions {
  /** Overrides the code's default; a throw site that passes it says why. */
  readonly retriable?: boolean;
  /** A hint that knows more than the code's default (a file, an option); the default otherwise. */
  readonly hint?: string;
  readonly cause?: unknown;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    const entry: CodeEntry = CATALOGUE[code];
    this.retriable = options.retriable ?? entry.retriable;
    this.hint = options.hint ?? entry.hint;
  }

  /** Message plus hint, for a terminal. */
  explain(): string {
    return `${this.code}: ${this.message}\n  hint: ${this.hint}`;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, retriable: this.retriable, hint: this.hint };
  }
}

export function isSluiceError(err: unknown): err is SluiceError {
  return err instanceof SluiceError;
}

/**
 * Why a source may acknowledge readings the queue refused: only because the readings themselves can never be
 * stored (too large for the whole queue, or lacking what the queue needs), so a re-send would be refused
 * again. Named codes, not `!retriable`: any other refusal (a bug, a stop) must withhold the acknowledgement,
 * or a reading the device was told is safe would be lost.
 */
export type RefusedReading = 'too_large' | 'invalid';

export function refusedReading(err: SluiceError): RefusedReading | undefined {
  if (err.code === 'SLUICE_READING_TOO_LARGE') return 'too_large';
  if (err.code === 'SLUICE_READING_INVALID') return 'invalid';
  return undefined;
}

/** Wraps anything thrown into a SluiceError, keeping SluiceErrors as they are. */
export function toSluiceError(
  err: unknown,
  code: ErrorCode,
  message: string,
  options: Omit<SluiceErrorOptions, 'cause'> = {},
): SluiceError {
  if (err instanceof SluiceError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new SluiceError(code, `${message}: ${detail}`, { ...options, cause: err });
}

export function errorMessage(err: unknown): string {
  if (err instanceof SluiceError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
