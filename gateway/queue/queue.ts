// The channel: an LMDB store-and-forward queue. Every append, ack and cursor change is an op that the commit
// loop (commit-loop.ts) group-commits with the others queued meanwhile and resolves only once it is flushed;
// the store (store.ts) says what each op does on disk. The store keeps back the disk space its own commits
// need (see `DiskGuard`), so that a full disk refuses readings and never stops acks.
import { EventEmitter } from 'node:events';
import type { AppendOptions, IngestResult } from '../components.js';
import { SluiceError, toSluiceError } from '../errors.js';
import type { QueuedReading, Reading } from '../reading.js';
import type { QueueStats } from '../status.js';
import { encodeEntry } from './codec.js';
import { CommitLoop } from './commit-loop.js';
import type { QueueLimits, QueueOptions } from './options.js';
import type { CursorStart, CursorStats, DeadLetterInput, Op } from './ops.js';
import type { StoredDeadLetter } from './dead-letters.js';
import { Store, type Snapshot } from './store.js';

export type { CommitMode, OnFull, QueueOptions } from './options.js';
export type { CursorStart, CursorStats, DeadLetterInput } from './ops.js';
export type { QueueStats } from '../status.js';
export type { StoredDeadLetter } from './dead-letters.js';

export class Queue extends EventEmitter<{ append: [lastSeq: number] }> {
  private readonly store: Store;
  private readonly loop: CommitLoop<Snapshot>;
  private closed = false;

  private constructor(options: QueueOptions) {
    super();
    const store = new Store(options);
    this.store = store;
    this.loop = new CommitLoop(store.root, store, () => this.emit('append', store.durableLastSeq));
  }

  /** The options in force (max_bytes and on_full change with setLimits). */
  get options(): QueueOptions {
    return this.store.options;
  }

  static open(options: QueueOptions): Queue {
    try {
      return new Queue(options);
    } catch (err) {
      // Not retriable: at boot nothing retries the open; the gateway exits and an operator fixes the directory.
      throw toSluiceError(err, 'SLUICE_QUEUE_IO', `cannot open the queue in ${options.dir}`, {
        retriable: false,
      });
    }
  }

  /**
   * Appends readings and resolves once they are committed and flushed to disk, with the sequence numbers
   * assigned (contiguous, in order). Appends from many callers in the same moment share one commit.
   */
  append(readings: readonly Reading[], options?: AppendOptions): Promise<IngestResult> {
    const sourceState = options?.sourceState;
    if (readings.length === 0 && sourceState === undefined) {
      return Promise.reject(new SluiceError('SLUICE_READING_INVALID', 'append() needs at least one reading'));
    }
    const now = Date.now();
    const entries = readings.map((r) => encodeEntry(r, now));
    let bytes = 0;
    for (const b of entries) bytes += b.length;
    return this.submit<IngestResult>(
      (resolve, reject) => ({ kind: 'append', entries, bytes, sourceState, resolve, reject }),
      options?.gathered === true,
    );
  }

  /**
   * Changes max_bytes, on_full, commit_mode and commit_delay_ms in place (a config push): the next append
   * obeys them. A smaller max_bytes under drop_oldest drops the excess at that append, not now, so a lowered
   * limit never loses more than needed.
   */
  setLimits(limits: QueueLimits): void {
    const current = this.store.options;
    this.store.options = {
      ...current,
      maxBytes: limits.maxBytes,
      onFull: limits.onFull,
      commitMode: limits.commitMode ?? current.commitMode,
      commitDelayMs: limits.commitDelayMs ?? current.commitDelayMs,
    };
  }

  /** Creates the cursor if it does not exist (at the tail, or at the oldest retained entry). */
  openCursor(name: string, start: CursorStart = 'tail'): Promise<CursorStats> {
    return this.submit<CursorStats>((resolve, reject) => ({
      kind: 'open-cursor',
      cursor: name,
      start,
      resolve,
      reject,
    }));
  }

  /** Forgets a cursor (a sink that was removed for good), letting the entries it held be trimmed. */
  removeCursor(name: string): Promise<boolean> {
    return this.submit<boolean>((resolve, reject) => ({
      kind: 'remove-cursor',
      cursor: name,
      resolve,
      reject,
    }));
  }

  /**
   * Marks every entry up to `upToSeq` as delivered by this cursor, parking the given ones as dead letters
   * in the same transaction. Entries leave the queue once every cursor has passed them.
   */
  ack(name: string, upToSeq: number, deadLetters: readonly DeadLetterInput[] = []): Promise<void> {
    return this.submit<void>((resolve, reject) => ({
      kind: 'ack',
      cursor: name,
      upToSeq,
      deadLetters,
      resolve,
      reject,
    }));
  }

  /**
   * Reads up to `maxCount` entries after `afterSeq`, stopping before `maxBytes` (but always returning at
   * least one entry if any is there), with their encoded size (for the sinks' received-bytes metric).
   * Synchronous: it reads the memory map, never the heap-held backlog; only what is flushed to disk.
   * `withArrival` adds each entry's `appendedAt` (a windowing processor judges lateness by it).
   */
  readSized(
    afterSeq: number,
    maxCount: number,
    maxBytes = Number.POSITIVE_INFINITY,
    withArrival = false,
  ): { readings: QueuedReading[]; bytes: number } {
    return this.store.readSized(afterSeq, maxCount, maxBytes, withArrival);
  }

  /**
   * A source's state as last committed with an append's `sourceState` (undefined if never). Read at a
   * source's start, after its earlier instance's appends settled: what it returns is what is on disk.
   */
  sourceState(key: string): unknown {
    return this.store.sourceState(key);
  }

  /** The cursor's durable position: the highest sequence it has acknowledged. */
  cursorPosition(name: string): number {
    return this.store.cursorPosition(name);
  }

  cursorNames(): string[] {
    return this.store.cursorNames();
  }

  /** First sequence number this queue ever assigned (see `newQueueFirstSeq`). */
  get origin(): number {
    return this.store.origin;
  }

  /** Highest sequence durably on disk (what `readSized` can return up to). */
  get lastSeq(): number {
    return this.store.durableLastSeq;
  }

  stats(): QueueStats {
    const c = this.store.counts();
    return {
      origin: c.origin,
      depth: c.depth,
      bytes: c.bytes,
      maxBytes: this.options.maxBytes,
      onFull: this.options.onFull,
      firstSeq: c.firstSeq,
      lastSeq: c.lastSeq,
      dropped: c.dropped,
      rejected: c.rejected,
      commits: this.loop.commits,
      commitMode: this.loop.mode,
      commitModeFallbacks: this.loop.fallbacks,
      deadLetters: c.deadLetters,
      diskFull: c.diskFull,
      cursors: this.cursorNames().map((n) => this.cursorStats(n)),
    };
  }

  cursorStats(name: string): CursorStats {
    return this.store.cursorStats(name);
  }

  /** Dead letters parked for a cursor, oldest first. */
  deadLetters(cursor: string, limit = 100): StoredDeadLetter[] {
    return this.store.deadLetters(cursor, limit);
  }

  /** Waits for queued writes, then closes the environment. Later calls are refused with SLUICE_QUEUE_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.loop.whenIdle();
    await this.store.close();
  }

  /** Hands an op to the commit loop; `make` builds it around the caller's promise. */
  private submit<T>(
    make: (resolve: (value: T) => void, reject: (err: unknown) => void) => Op,
    gathered = false,
  ): Promise<T> {
    if (this.closed) {
      return Promise.reject(new SluiceError('SLUICE_QUEUE_CLOSED', 'the queue is closed'));
    }
    if (this.options.readOnly) {
      // Retriable (the default, no longer false): nothing was stored, so no source may acknowledge it as handled.
      return Promise.reject(new SluiceError('SLUICE_QUEUE_IO', 'the queue was opened read-only'));
    }
    return new Promise<T>((resolve, reject) => this.loop.submit(make(resolve, reject), gathered));
  }
}

/**
 * Where a new queue starts numbering: the current time in microseconds. Sequence numbers grow by one per
 * reading, so while a gateway averages under a million readings a second a new queue starts above any
 * number an earlier queue of the same gateway handed out: after a wiped data directory or a replaced SD
 * card, `<gateway>:<seq>` ids stay unique downstream and sinks that skip already-delivered ranges (file,
 * HDFS) do not mistake new readings for old ones. Needs a clock that is not behind the earlier queue's
 * creation (set the time, e.g. NTP, before first start). Stays below 2^53 until the year 2255.
 */
export function newQueueFirstSeq(now = Date.now()): number {
  return now * 1000;
}
