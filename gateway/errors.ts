// Every error Sluice raises on purpose: a stable code, whether retrying can help, and what to do about it.

export type ErrorCode =
  | 'SLUICE_CONFIG_INVALID'
  | 'SLUICE_CONFIG_READ'
  | 'SLUICE_QUEUE_FULL'
  | 'SLUICE_QUEUE_CLOSED'
  | 'SLUICE_QUEUE_IO'
  | 'SLUICE_READING_INVALID'
  | 'SLUICE_READING_TOO_LARGE'
  | 'SLUICE_CURSOR_UNKNOWN'
  | 'SLUICE_SINK_WRITE'
  | 'SLUICE_SINK_REJECTED'
  | 'SLUICE_SOURCE_IO'
  | 'SLUICE_PAYLOAD_INVALID'
  | 'SLUICE_AUTH'
  | 'SLUICE_UPSTREAM_UNREACHABLE'
  /** The upstream is out of space or namespace quota (HDFS DSQuota/NSQuota): an operator must act. */
  | 'SLUICE_UPSTREAM_QUOTA'
  | 'SLUICE_SHUTDOWN'
  | 'SLUICE_USAGE'
  | 'SLUICE_FLEET_REJECTED'
  | 'SLUICE_INTERNAL';

export interface SluiceErrorOptions {
  /** True when the same operation may succeed later (network, full queue); false for bad input or config. */
  readonly retriable?: boolean;
  /** One sentence telling the operator what to do. */
  readonly hint?: string;
  readonly cause?: unknown;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.hint = options.hint;
  }

  /** Message plus hint, for a terminal. */
  explain(): string {
    return this.hint
      ? `${this.code}: ${this.message}\n  hint: ${this.hint}`
      : `${this.code}: ${this.message}`;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, retriable: this.retriable, hint: this.hint };
  }
}

export function isSluiceError(err: unknown): err is SluiceError {
  return err instanceof SluiceError;
}

/** Wraps anything thrown into a SluiceError, keeping SluiceErrors as they are. */
export function toSluiceError(
  err: unknown,
  code: ErrorCode,
  message: string,
  retriable: boolean,
): SluiceError {
  if (err instanceof SluiceError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new SluiceError(code, `${message}: ${detail}`, { retriable, cause: err });
}

export function errorMessage(err: unknown): string {
  if (err instanceof SluiceError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
