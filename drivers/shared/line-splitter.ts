// Splits a byte stream into lines on a delimiter with a hard bound on buffered bytes: an over-long line is
// reported once and skipped up to the next delimiter, so a device that never sends one cannot grow memory.

export type SplitEvent =
  { readonly kind: 'line'; readonly bytes: Uint8Array } | { readonly kind: 'too_long' };

export class LineSplitter {
  private readonly delimiter: Uint8Array;
  /** Holds at most one line plus its delimiter; never grows. */
  private readonly buf: Uint8Array;
  private len = 0;
  private skipping = false;

  constructor(delimiter: Uint8Array, maxLineBytes: number) {
    this.delimiter = delimiter;
    this.buf = new Uint8Array(maxLineBytes + delimiter.length);
  }

  push(chunk: Uint8Array): SplitEvent[] {
    const events: SplitEvent[] = [];
    const d = this.delimiter.length;
    for (const byte of chunk) {
      this.buf[this.len++] = byte;
      if (this.len >= d && this.endsWithDelimiter()) {
        if (!this.skipping) events.push({ kind: 'line', bytes: this.buf.slice(0, this.len - d) });
        this.skipping = false;
        this.len = 0;
      } else if (this.len === this.buf.length) {
        // The line already holds more than max bytes even if the tail is a partial delimiter.
        if (!this.skipping) events.push({ kind: 'too_long' });
        this.skipping = true;
        // Keep the last d-1 bytes: they may be the start of a delimiter split across chunks.
        this.buf.copyWithin(0, this.len - (d - 1), this.len);
        this.len = d - 1;
      }
    }
    return events;
  }

  reset(): void {
    this.len = 0;
    this.skipping = false;
  }

  /** Bytes currently buffered (for tests of the memory bound). */
  get buffered(): number {
    return this.len;
  }

  private endsWithDelimiter(): boolean {
    const start = this.len - this.delimiter.length;
    for (let i = 0; i < this.delimiter.length; i++) {
      if (this.buf[start + i] !== this.delimiter[i]) return false;
    }
    return true;
  }
}
