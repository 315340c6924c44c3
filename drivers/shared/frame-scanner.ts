// Finds fixed-header binary frames in a byte stream. A bad frame or a stray byte costs one byte: scanning
// restarts right after the failed sync byte, so a real frame hidden inside a corrupt one is still found.
// Decisions depend only on the byte sequence, never on how it was chunked.
import type { Driver, DriverError, DriverOutput, DriverReading } from '../driver.js';

/** What a frame-so-far looks like: needs more bytes, is a complete valid frame, or is rejected. */
export type FrameCheck = 'more' | 'ok' | { readonly reason: string; readonly detail: string };

export type ScanEvent =
  | { readonly kind: 'frame'; readonly bytes: Uint8Array }
  | { readonly kind: 'error'; readonly reason: string; readonly detail: string };

export class FrameScanner {
  private readonly buf: Uint8Array;
  private len = 0;
  /** True while inside a run of unusable bytes, so that the run is counted once. */
  private skipping = false;

  /**
   * @param sync the bytes every frame starts with
   * @param maxFrameBytes bound of the buffer; `check` must answer 'ok' or reject by this length
   * @param check called with the bytes so far, each time one arrives after the sync bytes
   */
  constructor(
    private readonly sync: readonly number[],
    maxFrameBytes: number,
    private readonly check: (frame: Uint8Array) => FrameCheck,
  ) {
    this.buf = new Uint8Array(maxFrameBytes);
  }

  push(chunk: Uint8Array): ScanEvent[] {
    const events: ScanEvent[] = [];
    this.feed(chunk, events);
    return events;
  }

  reset(): void {
    this.len = 0;
    this.skipping = false;
  }

  private feed(bytes: Iterable<number>, events: ScanEvent[]): void {
    for (const b of bytes) {
      if (this.len < this.sync.length && b !== this.sync[this.len]) {
        this.skip(events);
        if (this.len === 0) continue;
        // A partial sync that broke off: its second byte onwards may still start a frame.
        const held = [...this.buf.subarray(1, this.len), b];
        this.len = 0;
        this.feed(held, events);
        continue;
      }
      this.buf[this.len++] = b;
      if (this.len < this.sync.length) continue;
      let verdict = this.check(this.buf.subarray(0, this.len));
      if (verdict === 'more' && this.len === this.buf.length) {
        verdict = { reason: 'too_long', detail: `no frame end within ${this.buf.length} bytes` };
      }
      if (verdict === 'more') continue;
      if (verdict === 'ok') {
        events.push({ kind: 'frame', bytes: this.buf.slice(0, this.len) });
        this.len = 0;
        this.skipping = false;
        continue;
      }
      events.push({ kind: 'error', reason: verdict.reason, detail: verdict.detail });
      this.skipping = true; // the bytes of the rejected frame are part of this one fault
      const held = this.buf.slice(1, this.len);
      this.len = 0;
      this.feed(held, events);
    }
  }

  private skip(events: ScanEvent[]): void {
    if (this.skipping) return;
    this.skipping = true;
    events.push({ kind: 'error', reason: 'garbage', detail: 'bytes outside a frame skipped' });
  }
}

/**
 * A driver for a fixed-frame binary protocol: scans frames, counts rejections, and turns each valid frame
 * into readings with `decode`. The particulate sensors differ only in their frame check and decoding.
 */
export function frameDriver(
  sync: readonly number[],
  maxFrameBytes: number,
  check: (frame: Uint8Array) => FrameCheck,
  decode: (frame: Uint8Array) => DriverReading[],
): Driver {
  const scanner = new FrameScanner(sync, maxFrameBytes, check);
  return {
    push(chunk: Uint8Array): DriverOutput {
      const readings: DriverReading[] = [];
      const errors: DriverError[] = [];
      let frames = 0;
      for (const event of scanner.push(chunk)) {
        if (event.kind === 'error') {
          errors.push({ reason: event.reason, detail: event.detail });
          continue;
        }
        frames++;
        readings.push(...decode(event.bytes));
      }
      return { readings, errors, frames };
    },
    reset: () => scanner.reset(),
  };
}
