// The queue's store: how readings, cursors and dead letters lie in LMDB, what each op of a commit round does
// to them (append with on_full, ack with dead letters, cursors, drop_oldest, trim), and the reads that sinks
// and stats make. commit-loop.ts schedules the rounds; queue.ts is the front that puts the two together.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { IngestResult } from '../components.js';
import { SluiceError, isSluiceError } from '../errors.js';
import type { QueuedReading } from '../reading.js';
import { decodeEntry } from './codec.js';
import {
  parkDeadLetter,
  readDeadLetters,
  type DeadLetterTable,
  type StoredDeadLetter,
} from './dead-letters.js';
import type { CommitStore } from './commit-loop.js';
import { DiskGuard, commitFailure, lmdbPages } from './disk.js';
import type { QueueOptions } from './options.js';
import type { AckOp, AppendOp, CursorStats, OpenCursorOp, Op, Outcome } from './ops.js';

interface CursorState {
  acked: number;
  dropped: number;
  createdAt: number;
}

interface PersistedState {
  /** First sequence number this queue ever assigned (stores from before it existed: 1). */
  origin?: number;
  lastSeq: number;
  bytes: number;
  dropped: number;
  deadLetters: number;
}

/**
 * What a round changes in memory besides LMDB, put back when its transaction fails. Not `rejected`: it
 * counts refusals as callers are told them, and is exported as a Prometheus counter, which must never go
 * down (a scrape can fall between a background round's ops and the failure of its commit).
 */
export interface Snapshot {
  readonly state: PersistedState;
  readonly firstSeq: number;
  readonly cursors: Map<string, CursorState>;
}

const STATE_KEY = 'state';
const CURSOR_PREFIX = 'cursor/';
/** Sources' own state (see `AppendOptions.sourceState`), beside the cursors in `meta`. */
const SOURCE_STATE_PREFIX = 'source/';
/** Entries removed per transaction when trimming after acks, to keep each write transaction short. */
const TRIM_CHUNK = 20_000;
const MiB = 1024 * 1024;
/** Default `reserveBytes`: acks and trims on a full disk need a few dozen 4 KiB pages; this is 256 of them. */
const DISK_RESERVE = MiB;
/** Appends count this much disk per encoded byte (B-tree nodes, half-full pages after trims) plus a few pages. */
const DISK_PER_BYTE = 2;
const DISK_PER_APPEND = 4 * 4096;

/** One queue's LMDB environment and its state in memory; only a commit round changes them. */
export class Store implements CommitStore<Snapshot> {
  readonly root: RootDatabase;
  private readonly entries: Database<Buffer, number>;
  private readonly meta: Database<unknown, string>;
  private readonly dead: DeadLetterTable;
  private readonly guard: DiskGuard | undefined;

  private state: PersistedState;
  private firstSeq: number;
  private cursors = new Map<string, CursorState>();
  /** Highest sequence known flushed to disk: what sinks may read (never hand out what a power cut could undo). */
  private durableSeq: number;
  private trimPending = false;
  /** Readings refused since the queue was opened (see `QueueStats.rejected`). */
  private rejectedCount = 0;
  /** Bytes appends may still use in the current round (measured at its start). */
  private room = Number.POSITIVE_INFINITY;
  private roomFsFree = 0;
  private diskFullNow = false;
  /** The file system is nearly full: commits run inline (see `CommitLoop.inlineAllowed`). */
  private diskTight = false;

  /** `options`: those in force; a config push replaces them (see `Queue.setLimits`). */
  constructor(public options: QueueOptions) {
    if (!options.readOnly) mkdirSync(options.dir, { recursive: true });
    this.root = open({
      path: options.dir,
      // LMDB grows the map by itself (lmdb-js's LMDB fork resizes on MDB_MAP_FULL); start it large enough
      // for max_bytes plus B-tree overhead so that a full queue rarely needs a resize.
      mapSize: Math.max(64 * MiB, Math.ceil((options.maxBytes * 2.5) / MiB) * MiB),
      noSync: options.noSync === true,
      readOnly: options.readOnly === true,
      maxDbs: 8,
    });
    this.entries = this.root.openDB<Buffer, number>({ name: 'entries', encoding: 'binary' });
    this.meta = this.root.openDB<unknown, string>({ name: 'meta' });
    this.dead = this.root.openDB<unknown, [string, number]>({ name: 'dead_letters' });
    if (!options.readOnly) {
      this.guard = new DiskGuard(
        join(options.dir, 'data.mdb'),
        options.dir,
        options.reserveBytes ?? DISK_RESERVE,
      );
    }
    const saved = this.meta.get(STATE_KEY) as PersistedState | undefined;
    const initial = Math.max(0, (options.firstSeq ?? 1) - 1);
    this.state = saved
      ? { ...saved }
      : { origin: initial + 1, lastSeq: initial, bytes: 0, dropped: 0, deadLetters: 0 };
    this.firstSeq = this.state.lastSeq + 1;
    this.durableSeq = this.state.lastSeq;
    for (const key of this.entries.getKeys({ limit: 1 })) this.firstSeq = key;
    for (const { key, value } of this.meta.getRange({
      start: CURSOR_PREFIX,
      end: `${CURSOR_PREFIX}\uffff`,
    })) {
      this.cursors.set(key.slice(CURSOR_PREFIX.length), { ...(value as CursorState) });
    }
  }

  /** The store's counts, for `Queue.stats`. */
  counts(): {
    readonly origin: number;
    readonly depth: number;
    readonly bytes: number;
    readonly firstSeq: number;
    readonly lastSeq: number;
    readonly dropped: number;
    readonly rejected: number;
    readonly deadLetters: number;
    readonly diskFull: boolean;
  } {
    return {
      origin: this.origin,
      depth: this.state.lastSeq - this.firstSeq + 1,
      bytes: this.state.bytes,
      firstSeq: this.firstSeq,
      lastSeq: this.state.lastSeq,
      dropped: this.state.dropped,
      rejected: this.rejectedCount,
      deadLetters: this.state.deadLetters,
      diskFull: this.diskFullNow,
    };
  }

  /** First sequence number this queue ever assigned (see `newQueueFirstSeq`). */
  get origin(): number {
    return this.state.origin ?? 1;
  }

  /** Highest sequence durably on disk (what `readSized` can return up to). */
  get durableLastSeq(): number {
    return this.durableSeq;
  }

  /** See `Queue.readSized`. */
  readSized(
    afterSeq: number,
    maxCount: number,
    maxBytes: number,
    withArrival = false,
  ): { readings: QueuedReading[]; bytes: number } {
    const out: QueuedReading[] = [];
    let bytes = 0;
    const start = Math.max(afterSeq + 1, this.firstSeq);
    if (start > this.durableSeq) return { readings: out, bytes: 0 };
    for (const { key, value } of this.entries.getRange({
      start,
      end: this.durableSeq + 1,
      limit: maxCount,
    })) {
      if (bytes + value.length > maxBytes && out.length > 0) break;
      bytes += value.length;
      const e = decodeEntry(value, key);
      out.push(
        withArrival ? { ...e.reading, seq: key, appendedAt: e.appendedAt } : { ...e.reading, seq: key },
      );
    }
    return { readings: out, bytes };
  }

  cursorPosition(name: string): number {
    return this.requireCursor(name).acked;
  }

  sourceState(key: string): unknown {
    return this.meta.get(SOURCE_STATE_PREFIX + key);
  }

  cursorNames(): string[] {
    return [...this.cursors.keys()];
  }

  cursorStats(name: string): CursorStats {
    const c = this.requireCursor(name);
    const from = Math.max(c.acked + 1, this.firstSeq);
    const lag = Math.max(0, this.state.lastSeq - from + 1);
    let oldestUnackedAgeMs: number | null = null;
    if (lag > 0) {
      const buf = this.entries.getBinary(from);
      if (buf) oldestUnackedAgeMs = Math.max(0, Date.now() - decodeEntry(buf, from).appendedAt);
    }
    return { name, acked: c.acked, lag, oldestUnackedAgeMs, dropped: c.dropped, createdAt: c.createdAt };
  }

  deadLetters(cursor: string, limit: number): StoredDeadLetter[] {
    return readDeadLetters(this.dead, cursor, limit);
  }

  async close(): Promise<void> {
    await this.root.close();
    this.guard?.close();
  }

  // The commit loop's side of a round (see `CommitStore`).

  settings(): QueueOptions {
    return this.options;
  }

  snapshot(): Snapshot {
    const cursors = new Map<string, CursorState>();
    for (const [k, v] of this.cursors) cursors.set(k, { ...v });
    return { state: { ...this.state }, firstSeq: this.firstSeq, cursors };
  }

  restore(s: Snapshot): void {
    this.state = s.state;
    this.firstSeq = s.firstSeq;
    this.cursors = s.cursors;
    this.trimPending = true;
  }

  apply(ops: readonly Op[]): Outcome[] {
    const now = Date.now();
    let roundNeed = 0;
    for (const op of ops) if (op.kind === 'append') roundNeed += diskNeed(op);
    if (this.guard && roundNeed > 0) {
      const room = this.guard.check(
        () => lmdbPages(this.root, [this.entries, this.meta, this.dead]),
        roundNeed,
      );
      this.room = room.appendable;
      this.roomFsFree = room.fsFree;
      this.diskTight = room.tight;
    } else this.room = Number.POSITIVE_INFINITY;
    this.trimStep();
    const outcomes: Outcome[] = [];
    for (const op of ops) {
      try {
        outcomes.push({ ok: true, resolve: this.applyOp(op, now) });
      } catch (error) {
        // A planned refusal (queue full, bad ack) throws before the op wrote anything: only it fails.
        if (!isSluiceError(error)) throw error;
        outcomes.push({ ok: false, error });
      }
    }
    this.trimStep(); // what this round's acks freed, so stats are exact when the acks resolve
    this.meta.putSync(STATE_KEY, this.state);
    return outcomes;
  }

  /** What the callers of a failed round are told; a full disk counts their readings as refused. */
  failure(ops: readonly Op[], err: unknown, inCommit: boolean): SluiceError {
    const error = commitFailure(err, inCommit, this.options.dir, this.guard?.reserveBytes ?? 0);
    if (error.code === 'SLUICE_QUEUE_FULL') {
      for (const op of ops) if (op.kind === 'append') this.rejectedCount += op.entries.length;
    }
    return error;
  }

  committedSeq(): number {
    return this.state.lastSeq;
  }

  durable(seq: number): void {
    this.durableSeq = Math.max(this.durableSeq, seq);
  }

  hasDeferredWork(): boolean {
    return this.trimPending;
  }

  mustCommitInline(): boolean {
    return this.diskTight;
  }

  /** Applies one op inside the round; returns what resolves its caller once the round is durable. */
  private applyOp(op: Op, now: number): () => void {
    switch (op.kind) {
      case 'append': {
        const result = this.applyAppend(op);
        return () => op.resolve(result);
      }
      case 'ack':
        this.applyAck(op, now);
        return () => op.resolve();
      case 'open-cursor': {
        const stats = this.applyOpenCursor(op, now);
        return () => op.resolve(stats);
      }
      case 'remove-cursor': {
        const removed = this.cursors.delete(op.cursor);
        if (removed) {
          this.meta.removeSync(CURSOR_PREFIX + op.cursor);
          this.trimPending = true;
        }
        return () => op.resolve(removed);
      }
    }
  }

  private applyAppend(op: AppendOp): IngestResult {
    const { maxBytes, onFull } = this.options;
    const { entries, bytes: size } = op;
    if (size > maxBytes) {
      this.rejectedCount += entries.length;
      throw new SluiceError(
        'SLUICE_READING_TOO_LARGE',
        `an append of ${size} bytes exceeds queue.max_bytes (${maxBytes})`,
      );
    }
    const need = diskNeed(op);
    if (need > this.room) {
      // Refused whatever on_full says (before anything is dropped): the pages that dropping frees are
      // reusable only after this commit, and a disk filled by others is no reason to lose readings.
      this.rejectedCount += entries.length;
      this.diskFullNow = true;
      throw new SluiceError(
        'SLUICE_QUEUE_FULL',
        `the disk holding the queue (${this.options.dir}) is full: ${this.roomFsFree} bytes free on the file system, and the queue keeps ${this.guard?.reserveBytes ?? 0} bytes for its own commits`,
        {
          hint: 'free space on the file system of gateway.data_dir, or lower queue.max_bytes below its free space; readings are refused (counted) until the sinks catch up or space is freed',
        },
      );
    }
    this.room -= need;
    this.diskFullNow = false;
    if (this.state.bytes + size > maxBytes) {
      if (onFull === 'reject_new') {
        this.rejectedCount += entries.length;
        throw new SluiceError(
          'SLUICE_QUEUE_FULL',
          `the queue holds ${this.state.bytes} of ${maxBytes} bytes`,
          {
            hint: 'the sinks are behind or down; readings are refused until they catch up (queue.on_full: reject_new)',
          },
        );
      }
      while (this.state.bytes + size > maxBytes && this.firstSeq <= this.state.lastSeq) this.dropOldest();
    }
    const firstSeq = this.state.lastSeq + 1;
    let seq = firstSeq;
    for (const buf of entries) this.entries.putSync(seq++, buf, { append: true });
    // After every refusal above: a refused append moves no source state on, so its rows are read again.
    if (op.sourceState) this.meta.putSync(SOURCE_STATE_PREFIX + op.sourceState.key, op.sourceState.value);
    this.state.lastSeq = seq - 1;
    this.state.bytes += size;
    return { firstSeq, lastSeq: this.state.lastSeq, bytes: size };
  }

  private applyAck(op: AckOp, now: number): void {
    const { cursor: name, upToSeq } = op;
    const cursor = this.requireCursor(name);
    if (upToSeq > this.state.lastSeq) {
      throw new SluiceError(
        'SLUICE_INTERNAL',
        `cursor ${name} acked ${upToSeq} beyond the last sequence ${this.state.lastSeq}`,
      );
    }
    for (const d of op.deadLetters) {
      parkDeadLetter(this.dead, name, d, now, this.entries.getBinary(d.seq));
      this.state.deadLetters++;
    }
    if (upToSeq <= cursor.acked) return;
    cursor.acked = upToSeq;
    this.meta.putSync(CURSOR_PREFIX + name, cursor);
    this.trimPending = true;
  }

  private applyOpenCursor(op: OpenCursorOp, now: number): CursorStats {
    if (!this.cursors.has(op.cursor)) {
      const cursor = {
        acked: op.start === 'oldest' ? this.firstSeq - 1 : this.state.lastSeq,
        dropped: 0,
        createdAt: now,
      };
      this.cursors.set(op.cursor, cursor);
      this.meta.putSync(CURSOR_PREFIX + op.cursor, cursor);
    }
    return this.cursorStats(op.cursor);
  }

  private dropOldest(): void {
    const seq = this.firstSeq;
    const buf = this.entries.getBinary(seq);
    this.entries.removeSync(seq);
    this.state.bytes -= buf ? buf.length : 0;
    this.state.dropped++;
    this.firstSeq++;
    for (const [name, c] of this.cursors) {
      if (c.acked < seq) {
        c.dropped++;
        this.meta.putSync(CURSOR_PREFIX + name, c);
      }
    }
  }

  /** Removes entries every cursor has passed, a chunk per transaction; retained while no cursor exists. */
  private trimStep(): void {
    if (!this.trimPending) return;
    this.trimPending = false;
    if (this.cursors.size === 0) return;
    let minAcked = Number.POSITIVE_INFINITY;
    for (const c of this.cursors.values()) minAcked = Math.min(minAcked, c.acked);
    const end = Math.min(minAcked, this.firstSeq + TRIM_CHUNK - 1);
    // Collect first: removing under a live range iterator would move the iterator's cursor.
    const doomed: Array<[number, number]> = [];
    for (const { key, value } of this.entries.getRange({ start: this.firstSeq, end: end + 1 })) {
      doomed.push([key, value.length]);
    }
    for (const [key, size] of doomed) {
      this.entries.removeSync(key);
      this.state.bytes -= size;
    }
    if (end >= this.firstSeq) this.firstSeq = end + 1;
    if (minAcked >= this.firstSeq) this.trimPending = true;
  }

  private requireCursor(name: string): CursorState {
    const c = this.cursors.get(name);
    if (!c) {
      throw new SluiceError('SLUICE_CURSOR_UNKNOWN', `no queue cursor named "${name}"`);
    }
    return c;
  }
}

/** The disk an append may need in its round (see `DiskGuard`). */
function diskNeed(op: AppendOp): number {
  return op.bytes * DISK_PER_BYTE + DISK_PER_APPEND;
}
