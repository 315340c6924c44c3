// The contract of a driver: a pure translator from bytes to readings. No sockets, no timers: the serial
// source owns the port and the clock, and passes `now` in, so every driver is testable on byte fixtures.
// Drivers know nothing of the gateway: this file is their whole contract with it, the serial source the adapter.

/**
 * A reading's value as a driver makes it: a number, a string, a boolean, or a small object (a GPS fix). The
 * gateway's ReadingValue is the same type; gateway/sources/serial/ asserts at compile time that they stay so.
 */
export type DriverValue = number | string | boolean | { readonly [key: string]: unknown };

/** A reading as a driver sees it; the source fills in `source`, and `device`/`ts` when missing. */
export interface DriverReading {
  readonly device?: string;
  readonly metric: string;
  readonly value: DriverValue;
  readonly unit?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Sensor's own timestamp (ms since epoch) when the protocol carries one. */
  readonly ts?: number;
}

/** A counted rejection: `reason` is a stable short code (`bad_checksum`, `line_too_long`, ...). */
export interface DriverError {
  readonly reason: string;
  readonly detail: string;
  readonly device?: string;
}

export interface DriverOutput {
  readonly readings: DriverReading[];
  readonly errors: DriverError[];
  /** Number of complete, valid frames decoded from this input (for the per-port counters). */
  readonly frames: number;
}

/** What a polling driver (a Modbus master) wants done next. */
export interface DriverStep extends DriverOutput {
  /** Bytes to write to the port now. */
  readonly write?: Uint8Array;
  /** Call `step` again after this many ms (the source owns the timer). Undefined: only after input. */
  readonly wakeInMs?: number;
}

export interface Driver {
  /** Feeds bytes just read from the port. Never throws, never blocks; garbage is counted and skipped. */
  push(chunk: Uint8Array, now: number): DriverOutput;
  /** Polling drivers only: called at start, after each push, and when `wakeInMs` elapses. */
  step?(now: number): DriverStep;
  /** Forgets partial input, e.g. after the port was reopened. */
  reset(): void;
}

/**
 * Options a driver cannot run with (an unknown key, a value out of range). Thrown by `create` when options
 * reach it unvalidated; the serial source reports it as the gateway's SLUICE_CONFIG_INVALID.
 */
export class DriverOptionsError extends Error {
  readonly code = 'DRIVER_OPTIONS_INVALID';

  constructor(
    /** The driver's `type` tag. */
    readonly driver: string,
    /** Where in the driver's options the first problem is (`slaves.0.id`); empty for the options as a whole. */
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'DriverOptionsError';
  }
}
