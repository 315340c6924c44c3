// Types of wait.mjs, the one wait helper of the tests and benches (see there for why it is JavaScript).

export interface UntilOptions {
  /** Give up after this long (default 10 000 ms). */
  readonly timeoutMs?: number;
  /** What is awaited, for the timeout message ("the queue drained"). */
  readonly what?: string;
  /** Pause between tries (default 20 ms). */
  readonly intervalMs?: number;
  /** The state worth seeing when the wait fails (a cursor, a status); strings are printed as they are. */
  readonly state?: () => unknown;
  /** Checked before each try: an error it returns ends the wait at once, thrown as it is. */
  readonly abort?: () => Error | undefined | Promise<Error | undefined>;
}

/** With `accept`: polls until `accept(value)` holds and returns that value; the last value is in the timeout message. */
export function until<T>(
  cond: () => T | Promise<T>,
  options: UntilOptions & { readonly accept: (value: T) => boolean },
): Promise<T>;
/**
 * Polls `cond` until it returns something other than false, undefined or null and returns that value; an
 * exception from `cond` counts as "not yet". On timeout throws naming `what`, the time waited, the last
 * `state()` and the last exception.
 */
export function until<T>(
  cond: () => T | Promise<T>,
  options?: UntilOptions,
): Promise<Exclude<T, false | undefined | null>>;
