// Group commit for sources: the readings of many messages or reads go to the queue in one `ctx.ingest` call,
// one queue operation and one promise per batch instead of per message. Used by the MQTT broker and serial.
import type { AppendOptions, IngestResult } from '../components.js';
import { toSluiceError, type SluiceError } from '../errors.js';
import type { Reading } from '../reading.js';

/** Called once per part: with no error when its readings are on disk, else with why not. */
export type Settle = (err?: SluiceError) => void;

export interface IngestBatcherOptions {
  /**
   * `turn`: everything added in one turn of the event loop (the socket chunks of every readable connection)
   * goes into one append at the end of the turn, flagged `gathered` so that an inline commit starts at once;
   * appends of successive turns overlap (the MQTT broker, whose clients wait for their PUBACK).
   * `idle`: appends at once when no append is in flight, else gathers until it settles, so that a slow
   * commit makes the next append larger rather than more numerous (serial, which cannot push back).
   */
  readonly gather: 'turn' | 'idle';
  /**
   * What a batch goes to the queue as, and so what one refusal costs.
   * `chunks`: appends of at most `maxReadings` issued together (they still share one queue commit), so that
   * a queue with room for part of a backlog refuses one chunk rather than everything read while the disk
   * was slow. `parts_on_refusal`: one append; when it fails for a reason one part may be to blame for (not
   * retriable, e.g. a reading larger than the queue, or a full queue under reject_new, which may have room
   * for some parts), each part is appended alone (in arrival order, in one commit), so that only what does
   * not fit is refused and only its senders are told.
   */
  readonly split:
    { readonly kind: 'chunks'; readonly maxReadings: number } | { readonly kind: 'parts_on_refusal' };
  /** Most readings waiting for an append; beyond it the newest are dropped (`overflowed`), so order is kept. */
  readonly maxPending?: number;
}

export interface BatchReport {
  /** `readings` are on disk. */
  appended(readings: number): void;
  /** The append of `readings` failed; `from` is the first part's sender, for the log. */
  failed(readings: number, err: SluiceError, from: string | undefined): void;
  /** `readings` never reached an append because `maxPending` were already waiting (only with a cap). */
  overflowed?(readings: number): void;
}

interface Part {
  readonly readings: readonly Reading[];
  readonly from: string | undefined;
  readonly settled: Settle | undefined;
}

type Ingest = (readings: readonly Reading[], options?: AppendOptions) => Promise<IngestResult>;

export class IngestBatcher {
  private pending: Part[] = [];
  private pendingReadings = 0;
  private appending = 0;
  private readonly inflight = new Set<Promise<void>>();
  private flushScheduled = false;

  constructor(
    private readonly ingest: Ingest,
    private readonly options: IngestBatcherOptions,
    private readonly report: BatchReport,
  ) {}

  /** Readings waiting for their append (at most `maxPending`). */
  get pendingCount(): number {
    return this.pendingReadings;
  }

  /** Readings of the appends in flight. */
  get appendingCount(): number {
    return this.appending;
  }

  /**
   * Queues readings for the durable append; `settled` is told once they are on disk, or why not. Without
   * `settled` (nobody to tell), readings beyond `maxPending` are dropped and reported; a part that has
   * someone to tell is never cut, since the sender bounds itself by waiting for its answer.
   */
  add(readings: readonly Reading[], settled?: Settle, from?: string): void {
    let kept = readings;
    if (settled === undefined) {
      const room = Math.max(0, (this.options.maxPending ?? Infinity) - this.pendingReadings);
      if (readings.length > room) {
        this.report.overflowed?.(readings.length - room);
        kept = readings.slice(0, room);
      }
      if (kept.length === 0) return;
    }
    this.pending.push({ readings: kept, from, settled });
    this.pendingReadings += kept.length;
    if (this.options.gather === 'idle') {
      if (this.inflight.size === 0) this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Appends what is gathered now and resolves once every append so far has settled. */
  async drain(): Promise<void> {
    if (this.options.gather === 'turn') this.flush();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private flush(): void {
    this.flushScheduled = false;
    const parts = this.pending;
    const count = this.pendingReadings;
    if (parts.length === 0) return;
    this.pending = [];
    this.pendingReadings = 0;
    this.appending += count;
    const readings = parts.length === 1 ? (parts[0] as Part).readings : parts.flatMap((p) => p.readings);
    const split = this.options.split;
    const done =
      split.kind === 'chunks'
        ? this.appendChunks(parts, readings, split.maxReadings)
        : this.appendOrSplit(parts, readings);
    const tracked: Promise<void> = done.finally(() => {
      this.inflight.delete(tracked);
      this.appending -= count;
      if (this.options.gather === 'idle') this.flush();
    });
    this.inflight.add(tracked);
  }

  private async appendOrSplit(parts: readonly Part[], readings: readonly Reading[]): Promise<void> {
    const first = parts[0]?.from;
    const err = await this.append(readings, this.options.gather === 'turn');
    if (err !== undefined && parts.length > 1 && (!err.retriable || err.code === 'SLUICE_QUEUE_FULL')) {
      await Promise.all(
        parts.map(async (part) => {
          const alone = await this.append(part.readings, false);
          this.reportOutcome(part.readings.length, alone, part.from);
          part.settled?.(alone);
        }),
      );
      return;
    }
    this.reportOutcome(readings.length, err, first);
    for (const part of parts) part.settled?.(err);
  }

  private async appendChunks(
    parts: readonly Part[],
    readings: readonly Reading[],
    max: number,
  ): Promise<void> {
    const chunks: Promise<SluiceError | undefined>[] = [];
    for (let i = 0; i < readings.length; i += max) {
      const chunk = readings.slice(i, i + max);
      chunks.push(
        this.append(chunk, this.options.gather === 'turn').then((err) => {
          this.reportOutcome(chunk.length, err, parts[0]?.from);
          return err;
        }),
      );
    }
    const errors = await Promise.all(chunks);
    // A part is on disk when every chunk holding some of its readings is.
    let start = 0;
    for (const part of parts) {
      const end = start + part.readings.length;
      const first = Math.floor(start / max);
      const last = Math.max(first, Math.floor((end - 1) / max));
      part.settled?.(errors.slice(first, last + 1).find((e) => e !== undefined));
      start = end;
    }
  }

  private reportOutcome(readings: number, err: SluiceError | undefined, from: string | undefined): void {
    if (err === undefined) this.report.appended(readings);
    else this.report.failed(readings, err, from);
  }

  /** One `ctx.ingest` call; resolves with its error (never rejects). */
  private append(readings: readonly Reading[], gathered: boolean): Promise<SluiceError | undefined> {
    return this.ingest(readings, gathered ? { gathered: true } : undefined).then(
      () => undefined,
      (cause: unknown) => asIngestError(cause),
    );
  }
}

/**
 * What an append failed with, as a SluiceError: anything else (even a bare `undefined`) counts as a
 * retriable I/O failure, so that it can never be mistaken for success and acknowledged.
 */
export function asIngestError(cause: unknown): SluiceError {
  return toSluiceError(cause ?? 'no reason given', 'SLUICE_QUEUE_IO', 'the readings could not be queued');
}
