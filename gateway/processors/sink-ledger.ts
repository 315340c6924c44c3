// What a sink's cursor may be acked through when a processor chain sits between the queue and the sink:
// the sink commits the readings it was given (kept ones), the cursor must also move past the entries the
// chain dropped, but never past a kept reading the sink has not committed, nor past one a processor holds.

interface Batch {
  /** Last queue seq of the batch as read (kept or dropped). */
  readonly end: number;
  /** Queue seqs of the readings handed to the sink, ascending. */
  readonly kept: readonly number[];
  /** Index in `kept` of the first one the sink has not committed yet. */
  next: number;
  /**
   * Per kept reading, the lowest queue seq it was built from, when that is below its own seq (a window
   * of `aggregate` carries the seq of its last input): until it is committed, the cursor stays below it.
   * Undefined for a batch of plain readings.
   */
  readonly from: readonly number[] | undefined;
}

/**
 * Batches handed to the sink and not yet wholly acked. It holds one number per kept reading the sink has
 * not committed yet: bounded by what the sink holds uncommitted (an open file, Kafka's in-flight
 * requests), never by the backlog, which stays in the queue.
 */
export class SinkLedger {
  private batches: Batch[] = [];
  /** Highest seq known ackable but for `heldFrom`: kept here so that a cap lifted later still reaches it. */
  private reached = 0;

  /** A batch read up to `end` of which the sink was given `kept` (in seq order). */
  record(end: number, kept: readonly { readonly seq: number; readonly firstSeq?: number }[]): void {
    const from = kept.some((r) => r.firstSeq !== undefined)
      ? kept.map((r) => Math.min(r.seq, r.firstSeq ?? r.seq))
      : undefined;
    this.batches.push({ end, kept: kept.map((r) => r.seq), next: 0, from });
  }

  /**
   * Through which seq the cursor may be acked, now that the sink has committed through `through`, and how
   * many kept readings that newly confirms. Everything before the first uncommitted kept reading is either
   * committed or dropped; `heldFrom` (a processor holding readings) caps it further.
   */
  ackable(
    acked: number,
    through: number | undefined,
    heldFrom: number | undefined,
  ): { upTo: number; events: number } {
    const c = through ?? Number.NEGATIVE_INFINITY;
    let upTo = Math.max(acked, through ?? acked, this.reached);
    let events = 0;
    while (this.batches.length > 0) {
      const b = this.batches[0] as Batch;
      while (b.next < b.kept.length && (b.kept[b.next] as number) <= c) {
        b.next++;
        events++;
      }
      if (b.next < b.kept.length) {
        upTo = Math.max(upTo, (b.kept[b.next] as number) - 1);
        break;
      }
      upTo = Math.max(upTo, b.end);
      this.batches.shift();
    }
    this.reached = upTo;
    // Neither a reading a processor holds nor an input of an emitted window still uncommitted may be
    // passed: after a crash both must be read again to rebuild the same window.
    const hold = minDefined(heldFrom, this.uncommittedFrom());
    if (hold !== undefined) upTo = Math.max(acked, Math.min(upTo, hold - 1));
    return { upTo, events };
  }

  /** The lowest `from` of a kept reading not yet committed, if any batch carries `from`. */
  private uncommittedFrom(): number | undefined {
    let min: number | undefined;
    for (const b of this.batches) {
      if (!b.from) continue;
      for (let i = b.next; i < b.from.length; i++) min = minDefined(min, b.from[i]);
    }
    return min;
  }

  /** Forgets every batch: the runner rewinds to the durable cursor and reads them again. */
  clear(): void {
    this.batches = [];
    this.reached = 0;
  }
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : Math.min(a, b);
}
