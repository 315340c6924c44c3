// Group commit for a source that cannot push back: the readings of one read go to the queue in one append;
// while that append is being committed, the next reads accumulate (up to a cap) into the next append.
import type { IngestResult } from '../../components.js';
import type { Reading } from '../../reading.js';

/** Most readings per append: a backlog after a slow commit goes to the queue as several appends. */
export const MAX_APPEND_READINGS = 1000;

export interface BatchReport {
  /** `readings` are on disk. */
  appended(readings: number): void;
  /** The append of `readings` failed (queue full under reject_new, disk error): they are lost. */
  failed(readings: number, err: unknown): void;
  /** `readings` never reached an append because `maxPending` were already waiting. */
  overflowed(readings: number): void;
}

export class IngestBatcher {
  private pending: Reading[] = [];
  private inflight: Promise<void> | undefined;
  private inflightCount = 0;

  constructor(
    private readonly ingest: (readings: readonly Reading[]) => Promise<IngestResult>,
    private readonly maxPending: number,
    private readonly report: BatchReport,
  ) {}

  /** Readings waiting for the append in flight to finish (at most `maxPending`). */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Readings of the append in flight. */
  get appendingCount(): number {
    return this.inflightCount;
  }

  /** Queues readings; the newest are dropped (and counted) beyond `maxPending`, so order is kept. */
  add(readings: readonly Reading[]): void {
    if (readings.length === 0) return;
    const room = Math.max(0, this.maxPending - this.pending.length);
    if (readings.length > room) this.report.overflowed(readings.length - room);
    for (let i = 0; i < Math.min(room, readings.length); i++) this.pending.push(readings[i] as Reading);
    if (this.inflight === undefined) this.flush();
  }

  /** Resolves once everything added so far has been appended (or has failed). */
  async drain(): Promise<void> {
    while (this.inflight !== undefined) await this.inflight;
  }

  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.inflightCount = batch.length;
    // Issued together, the chunks still share one queue commit; bounded, one refusal (a queue with room
    // for part of a backlog) costs one chunk rather than everything read while the disk was slow.
    const chunks: Reading[][] = [];
    for (let i = 0; i < batch.length; i += MAX_APPEND_READINGS) {
      chunks.push(batch.slice(i, i + MAX_APPEND_READINGS));
    }
    this.inflight = Promise.all(
      chunks.map((chunk) =>
        this.ingest(chunk).then(
          () => this.report.appended(chunk.length),
          (err: unknown) => this.report.failed(chunk.length, err),
        ),
      ),
    )
      .then(() => undefined)
      .finally(() => {
        this.inflight = undefined;
        this.inflightCount = 0;
        this.flush();
      });
  }
}
