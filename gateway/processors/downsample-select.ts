// `downsample` modes `last` and `max_abs` (sink side only): per device, metric and interval of reading
// time, the one input reading chosen when the interval closes is passed on as it is stored, with its own
// seq and id, so deduplication downstream and the sinks' skip-by-seq still hold; the others are dropped.
//
// They hold readings (the last or largest is known only when the interval ends), so they follow aggregate's
// rules (see index.ts and aggregate.ts): an interval closes when the gateway's clock, the latest queue
// arrival time read (`appendedAt`) or the idle tick's wall clock minus idle_grace_ms, passes its end +
// allowed_lateness_ms; a reading of a closed interval is dropped as `late`. That depends on the queue alone,
// so an interval rebuilt after a crash holds the same inputs and chooses the same reading. `heldFrom` keeps
// the cursor below an open interval's first input, and an output carries that as `firstSeq`.
// Order: outputs (and readings passed untouched) go out in ascending seq. The chosen reading of an open
// interval only ever moves to a newer input, so an output waits while an open interval's current choice
// is older than it.
import type { QueuedReading, Reading } from '../reading.js';
import { PendingOutputs, Tombstones } from './held.js';
import { Drop, ProcessorError, type Processor } from './types.js';

export interface SelectOptions {
  readonly mode: 'last' | 'max_abs';
  readonly intervalMs: number;
  readonly latenessMs: number;
  readonly idleGraceMs: number;
  /** Most intervals held open; beyond it the oldest is closed early, its later readings dropped `evicted`. */
  readonly maxOpen: number;
  readonly only: ReadonlySet<string> | undefined;
}

interface Interval {
  readonly key: string;
  readonly deadline: number;
  readonly firstSeq: number;
  chosen: QueuedReading;
  /** The chosen reading's ts (last) or |value| (max_abs). */
  score: number;
}

export class DownsampleSelect implements Processor {
  /** Open intervals by key, in creation order: the first has the lowest first input seq. */
  private readonly open = new Map<string, Interval>();
  /** The same, in the order their choice last changed: the first has the oldest chosen reading. */
  private readonly byChoice = new Map<string, Interval>();
  private readonly tombstones = new Tombstones();
  /** Chosen readings and readings passed untouched, waiting for their turn. */
  private readonly pending = new PendingOutputs();
  private clock = 0;
  /** The earliest deadline of an open interval: the clock passing it is when a scan closes intervals. */
  private minDeadline = Number.POSITIVE_INFINITY;

  constructor(private readonly o: SelectOptions) {}

  process<R extends Reading>(r: R, now: number): R | Drop {
    // Sink side only (downsample refuses these modes at the source): every input has its queue seq.
    const q = r as unknown as QueuedReading;
    this.advance(q.appendedAt ?? now);
    if (this.o.only && !this.o.only.has(r.metric)) return this.hold(q);
    let score: number;
    if (this.o.mode === 'last') score = r.ts;
    else if (typeof r.value === 'number' && Number.isFinite(r.value)) score = Math.abs(r.value);
    else
      throw new ProcessorError(
        'not_numeric',
        `${r.device}/${r.metric}: max_abs needs a finite number, got ${JSON.stringify(r.value)}`,
      );
    const start = Math.floor(r.ts / this.o.intervalMs) * this.o.intervalMs;
    const deadline = start + this.o.intervalMs + this.o.latenessMs;
    if (this.clock >= deadline) return Drop.of('late');
    if (r.ts >= (q.appendedAt ?? now) + this.o.intervalMs) return Drop.of('future');
    const key = `${r.device}\u0000${r.metric}\u0000${start}`;
    if (this.tombstones.has(key)) return Drop.of('evicted');
    const i = this.open.get(key);
    if (!i) {
      if (this.open.size >= this.o.maxOpen) this.evictOldest();
      const fresh: Interval = { key, deadline, firstSeq: q.seq, chosen: q, score };
      this.open.set(key, fresh);
      this.byChoice.set(key, fresh);
      if (deadline < this.minDeadline) this.minDeadline = deadline;
    } else if (score >= i.score) {
      // Ties: the later in the queue wins (last by ts; max_abs the latest of equal magnitude).
      i.chosen = q;
      i.score = score;
      this.byChoice.delete(key);
      this.byChoice.set(key, i);
    }
    this.release();
    return Drop.of('downsampled');
  }

  keep<R extends Reading>(r: R): R | Drop {
    return this.hold(r as unknown as QueuedReading);
  }

  tick(now: number): void {
    this.advance(now - this.o.idleGraceMs);
  }

  drain(): readonly QueuedReading[] {
    return this.pending.drain();
  }

  heldFrom(): number | undefined {
    return this.pending.heldFrom(this.open.values().next().value?.firstSeq);
  }

  reset(): void {
    this.open.clear();
    this.byChoice.clear();
    this.tombstones.clear();
    this.pending.reset();
    this.clock = 0;
    this.minDeadline = Number.POSITIVE_INFINITY;
  }

  resume(committedThrough: number): void {
    this.pending.resume(committedThrough);
  }

  /** A reading passed on untouched, in its turn (it must not overtake an older chosen reading). */
  private hold(q: QueuedReading): Drop {
    this.pending.add(q.seq, q.seq, q);
    this.release();
    return Drop.of('held');
  }

  private advance(t: number): void {
    if (t <= this.clock) return;
    this.clock = t;
    this.tombstones.expire(t);
    if (t < this.minDeadline) return;
    let next = Number.POSITIVE_INFINITY;
    for (const i of this.open.values()) {
      if (i.deadline <= t) this.close(i);
      else if (i.deadline < next) next = i.deadline;
    }
    this.minDeadline = next;
    this.release();
  }

  private evictOldest(): void {
    const i = this.open.values().next().value;
    if (!i) return;
    this.tombstones.add(i.key, i.deadline);
    this.close(i);
  }

  private close(i: Interval): void {
    this.open.delete(i.key);
    this.byChoice.delete(i.key);
    // The stored reading itself: same seq, same id; firstSeq keeps the cursor below the interval's inputs.
    const reading = Object.assign({}, i.chosen, { firstSeq: i.firstSeq });
    // Closed intervals' choices may be older than what already waits: PendingOutputs keeps seq order.
    this.pending.add(i.chosen.seq, i.firstSeq, reading);
  }

  /**
   * Hands on, in seq order, every pending output no open interval's choice is older than. One committed
   * before a crash is chosen again from the rebuilt interval and not sent twice.
   */
  private release(): void {
    this.pending.release(this.byChoice.values().next().value?.chosen.seq ?? Number.POSITIVE_INFINITY);
  }
}
