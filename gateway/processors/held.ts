// What the holding processors (aggregate, downsample last/max_abs) share: outputs that wait for their turn
// and go out in ascending seq, and keys closed early whose later readings are refused until their deadline.
// Each processor decides when an output may go (the lowest seq an open window or interval can still end
// on); this keeps the order, the cursor bound (`heldFrom`) and the crash rule (never resend what the sink
// committed before) in one place.
import type { QueuedReading } from '../reading.js';

/** An output waiting for its turn: `seq` orders it, `from` is the first queue entry it stands for. */
export interface Pending {
  readonly seq: number;
  readonly from: number;
  readonly reading: QueuedReading;
}

const EMPTY: readonly QueuedReading[] = [];

export class PendingOutputs {
  private pending: Pending[] = [];
  private sorted = true;
  private out: QueuedReading[] = [];
  /** Outputs at or below this seq were committed by the sink before (see Processor.resume). */
  private committed = 0;

  add(seq: number, from: number, reading: QueuedReading): void {
    const last = this.pending[this.pending.length - 1];
    if (last !== undefined && last.seq > seq) this.sorted = false;
    this.pending.push({ seq, from, reading });
  }

  /** Moves every waiting output below `limit` to what `drain` returns, in seq order. */
  release(limit: number): void {
    if (this.pending.length === 0) return;
    if (!this.sorted) {
      this.pending.sort((a, b) => a.seq - b.seq);
      this.sorted = true;
    }
    let n = 0;
    for (const p of this.pending) {
      if (p.seq >= limit) break;
      // Committed before a crash: rebuilt from the queue, never sent again.
      if (p.seq > this.committed) this.out.push(p.reading);
      n++;
    }
    if (n > 0) this.pending = this.pending.slice(n);
  }

  drain(): readonly QueuedReading[] {
    if (this.out.length === 0) return EMPTY;
    const out = this.out;
    this.out = [];
    return out;
  }

  /** The lowest first entry of a waiting output, below `openFrom` (an open window's first input) or not. */
  heldFrom(openFrom: number | undefined): number | undefined {
    let min = openFrom;
    for (const p of this.pending) if (min === undefined || p.from < min) min = p.from;
    return min;
  }

  resume(committedThrough: number): void {
    this.committed = Math.max(this.committed, committedThrough);
  }

  /** Forgets what waits (a rewind); what the sink committed stays known. */
  reset(): void {
    this.pending = [];
    this.sorted = true;
    this.out = [];
  }
}

/** Keys closed early (evicted), each refused until its own deadline passes. */
export class Tombstones {
  private readonly keys = new Map<string, number>();

  add(key: string, deadline: number): void {
    this.keys.set(key, deadline);
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Drops those whose deadline the clock `t` reached. */
  expire(t: number): void {
    for (const [key, deadline] of this.keys) {
      // Insertion order is close order, roughly deadline order: stop at the first still in force.
      if (deadline > t) break;
      this.keys.delete(key);
    }
  }

  clear(): void {
    this.keys.clear();
  }
}
