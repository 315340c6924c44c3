// The channel: an LMDB store-and-forward queue. One writer loop group-commits every append, ack and cursor
// change queued during the previous commit into one transaction, and resolves them only once it is flushed,
// committing on the event loop while the disk is fast and in LMDB's write thread when it is not. It keeps
// back the disk space its own commits need (see `DiskGuard`), so that a full disk refuses readings and never
// stops acks.
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { AppendOptions, IngestResult } from '../components.js';
import { SluiceError, isSluiceError, toSluiceError } from '../errors.js';
import { endNativeStderrLine } from '../observe/log.js';
import type { QueuedReading, Reading } from '../reading.js';
import { decodeEntry, encodeEntry } from './codec.js';
import { DiskGuard, isDiskFull, type LmdbPages } from './disk.js';
import type { CursorStats, QueueStats } from '../status.js';

// What stats() reports is a status shape, read by observe/ and fleet/: it is declared on the core floor.
export type { CursorStats, QueueStats } from '../status.js';

export type OnFull = 'drop_oldest' | 'reject_new';
/**
 * Where a group commit waits for the disk. `inline`: the event loop commits and waits for the fsync itself
 * (no thread hand-offs: the lowest latency when an fsync takes well under a millisecond). `background`:
 * LMDB's write thread commits and syncs while the event loop goes on (better when fsyncs are slow, e.g. SD
 * cards). `auto`: inline while the median wait for the disk of the last 32 inline commits is at most 5 ms,
 * else background for a minute, then measured again. (An SD card's fsync takes more; an SSD's or eMMC's
 * less. The wait is wall time, so a CPU the load saturates inflates it too: hence a median, and 5 ms.)
 */
export type CommitMode = 'auto' | 'inline' | 'background';
/** Where a cursor created for the first time starts: only new readings, or everything still retained. */
export type CursorStart = 'tail' | 'oldest';

export interface QueueOptions {
  readonly dir: string;
  /** Upper bound of the encoded readings held, in bytes (the LMDB file adds B-tree overhead on top). */
  readonly maxBytes: number;
  readonly onFull: OnFull;
  /** Default `auto`. */
  readonly commitMode?: CommitMode;
  /** `auto`: how long commits stay in the background after slow inline fsyncs (default a minute). */
  readonly backgroundHoldMs?: number;
  /** Benchmarks only: skip fsync. The ceiling a durable queue is measured against; never for real data. */
  readonly noSync?: boolean;
  /** Open without writing (for `sluice queue stats` beside a running gateway). */
  readonly readOnly?: boolean;
  /**
   * First sequence number of a queue created now (ignored when the store exists). The gateway passes
   * `newQueueFirstSeq()`, so that a gateway whose data directory was wiped never re-uses an id.
   */
  readonly firstSeq?: number;
  /**
   * Disk space kept allocated at the end of the queue's file for its own commits (acks, trims), so that they
   * go on when the disk is full; appends are refused before they would eat into it. Default 1 MiB; tests
   * pass 0 to provoke commits that fail for want of space.
   */
  readonly reserveBytes?: number;
}

export interface DeadLetterInput {
  readonly seq: number;
  readonly code: string;
  readonly message: string;
}

export interface StoredDeadLetter extends DeadLetterInput {
  readonly cursor: string;
  readonly at: number;
  readonly reading: Reading | null;
}

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

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Op {
  /** Runs inside the write transaction. Throws a SluiceError before writing anything to refuse just this op. */
  run(now: number): unknown;
  /** Readings appended (counted as rejected when the commit fails for want of disk space), and the disk they need. */
  readonly readings: number;
  readonly diskNeed: number;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

const STATE_KEY = 'state';
const CURSOR_PREFIX = 'cursor/';
/** Entries removed per transaction when trimming after acks, to keep each write transaction short. */
const TRIM_CHUNK = 20_000;
const MiB = 1024 * 1024;
/** `auto`: the most the event loop may wait for the disk in a typical (median) commit before commits move off it. */
const INLINE_DISK_BUDGET_MS = 5;
/** `auto`: inline commits the median is taken over (a median, so a few commits the OS preempted do not count). */
const INLINE_WINDOW = 32;
/** `auto`: how long commits stay in the background before inline commits are measured again. */
const BACKGROUND_HOLD_MS = 60_000;
/** Default `reserveBytes`: acks and trims on a full disk need a few dozen 4 KiB pages; this is 256 of them. */
const DISK_RESERVE = MiB;
/** Appends count this much disk per encoded byte (B-tree nodes, half-full pages after trims) plus a few pages. */
const DISK_PER_BYTE = 2;
const DISK_PER_APPEND = 4 * 4096;

export class Queue extends EventEmitter<{ append: [lastSeq: number] }> {
  private currentOptions: QueueOptions;
  private readonly root: RootDatabase;
  private readonly entries: Database<Buffer, number>;
  private readonly meta: Database<unknown, string>;
  private readonly dead: Database<unknown, [string, number]>;

  private state: PersistedState;
  private firstSeq: number;
  private cursors = new Map<string, CursorState>();
  private pending: Op[] = [];
  private writing = false;
  /** Rounds committed but not yet flushed. */
  private flushing = 0;
  /** Highest sequence known flushed to disk: what sinks may read (never hand out what a power cut could undo). */
  private durableSeq: number;
  private trimPending = false;
  private closed = false;
  private idle: (() => void) | undefined;
  private commits = 0;
  private rejected = 0;
  /** The ms recent inline commits spent in LMDB's commit (page writes, fsync), not in the ops. */
  private readonly inlineDiskMs = new Float64Array(INLINE_WINDOW);
  private inlineSamples = 0;
  private backgroundUntil = 0;
  /** An inline round is scheduled (`writing` is set) and has not started; the token voids a superseded one. */
  private inlineScheduled: 'turn' | 'now' | undefined;
  private inlineToken = 0;
  private fallbacks = 0;
  private readonly guard: DiskGuard | undefined;
  /** Bytes appends may still use in the current round (measured at its start). */
  private room = Number.POSITIVE_INFINITY;
  private roomFsFree = 0;
  private diskFull = false;
  /** The file system is nearly full: commits run inline (see `inlineAllowed`). */
  private diskTight = false;
  /** The last commit failed: a trim left pending waits for the next op instead of retrying at once. */
  private commitFailed = false;

  private constructor(options: QueueOptions) {
    super();
    this.currentOptions = options;
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

  /** The options in force (max_bytes and on_full change with setLimits). */
  get options(): QueueOptions {
    return this.currentOptions;
  }

  static open(options: QueueOptions): Queue {
    try {
      return new Queue(options);
    } catch (err) {
      throw toSluiceError(err, 'SLUICE_QUEUE_IO', `cannot open the queue in ${options.dir}`, false);
    }
  }

  /**
   * Appends readings and resolves once they are committed and flushed to disk, with the sequence numbers
   * assigned (contiguous, in order). Appends from many callers in the same moment share one commit.
   */
  append(readings: readonly Reading[], options?: AppendOptions): Promise<IngestResult> {
    if (readings.length === 0) {
      return Promise.reject(new SluiceError('SLUICE_READING_INVALID', 'append() needs at least one reading'));
    }
    const now = Date.now();
    const bufs = readings.map((r) => encodeEntry(r, now));
    let size = 0;
    for (const b of bufs) size += b.length;
    return this.enqueue<IngestResult>(
      () => this.applyAppend(bufs, size),
      options?.gathered === true,
      bufs.length,
      size * DISK_PER_BYTE + DISK_PER_APPEND,
    );
  }

  /**
   * Changes max_bytes and on_full in place (a config push): the next append obeys them. A smaller max_bytes
   * under drop_oldest drops the excess at that append, not now, so a lowered limit never loses more than needed.
   */
  setLimits(limits: {
    readonly maxBytes: number;
    readonly onFull: OnFull;
    readonly commitMode?: CommitMode;
  }): void {
    this.currentOptions = {
      ...this.currentOptions,
      maxBytes: limits.maxBytes,
      onFull: limits.onFull,
      commitMode: limits.commitMode ?? this.currentOptions.commitMode,
    };
  }

  /** Creates the cursor if it does not exist (at the tail, or at the oldest retained entry). */
  openCursor(name: string, start: CursorStart = 'tail'): Promise<CursorStats> {
    return this.enqueue<CursorStats>((now) => {
      if (!this.cursors.has(name)) {
        const cursor = {
          acked: start === 'oldest' ? this.firstSeq - 1 : this.state.lastSeq,
          dropped: 0,
          createdAt: now,
        };
        this.cursors.set(name, cursor);
        this.meta.putSync(CURSOR_PREFIX + name, cursor);
      }
      return this.cursorStats(name);
    });
  }

  /** Forgets a cursor (a sink that was removed for good), letting the entries it held be trimmed. */
  removeCursor(name: string): Promise<boolean> {
    return this.enqueue<boolean>(() => {
      if (!this.cursors.delete(name)) return false;
      this.meta.removeSync(CURSOR_PREFIX + name);
      this.trimPending = true;
      return true;
    });
  }

  /**
   * Marks every entry up to `upToSeq` as delivered by this cursor, parking the given ones as dead letters
   * in the same transaction. Entries leave the queue once every cursor has passed them.
   */
  ack(name: string, upToSeq: number, deadLetters: readonly DeadLetterInput[] = []): Promise<void> {
    return this.enqueue<void>((now) => {
      const cursor = this.requireCursor(name);
      if (upToSeq > this.state.lastSeq) {
        throw new SluiceError(
          'SLUICE_INTERNAL',
          `cursor ${name} acked ${upToSeq} beyond the last sequence ${this.state.lastSeq}`,
        );
      }
      for (const d of deadLetters) {
        const entry = this.entries.getBinary(d.seq);
        this.dead.putSync([name, d.seq], { code: d.code, message: d.message, at: now, entry: entry ?? null });
        this.state.deadLetters++;
      }
      if (upToSeq <= cursor.acked) return;
      cursor.acked = upToSeq;
      this.meta.putSync(CURSOR_PREFIX + name, cursor);
      this.trimPending = true;
    });
  }

  /**
   * Reads up to `maxCount` entries after `afterSeq`, stopping before `maxBytes` (but always returning at
   * least one entry if any is there). Synchronous: it reads the memory map, never the heap-held backlog.
   */
  read(afterSeq: number, maxCount: number, maxBytes = Number.POSITIVE_INFINITY): QueuedReading[] {
    return this.readSized(afterSeq, maxCount, maxBytes).readings;
  }

  /** As `read`, with the encoded size of what was read (for the sinks' received-bytes metric). */
  readSized(
    afterSeq: number,
    maxCount: number,
    maxBytes = Number.POSITIVE_INFINITY,
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
      out.push({ ...decodeEntry(value, key).reading, seq: key });
    }
    return { readings: out, bytes };
  }

  /** The cursor's durable position: the highest sequence it has acknowledged. */
  cursorPosition(name: string): number {
    return this.requireCursor(name).acked;
  }

  cursorNames(): string[] {
    return [...this.cursors.keys()];
  }

  /** First sequence number this queue ever assigned (see `newQueueFirstSeq`). */
  get origin(): number {
    return this.state.origin ?? 1;
  }

  /** Highest sequence durably on disk (what `read` can return up to). */
  get lastSeq(): number {
    return this.durableSeq;
  }

  stats(): QueueStats {
    return {
      origin: this.origin,
      depth: this.state.lastSeq - this.firstSeq + 1,
      bytes: this.state.bytes,
      maxBytes: this.options.maxBytes,
      onFull: this.options.onFull,
      firstSeq: this.firstSeq,
      lastSeq: this.state.lastSeq,
      dropped: this.state.dropped,
      rejected: this.rejected,
      commits: this.commits,
      commitMode: this.inlineAllowed() ? 'inline' : 'background',
      commitModeFallbacks: this.fallbacks,
      deadLetters: this.state.deadLetters,
      diskFull: this.diskFull,
      cursors: this.cursorNames().map((n) => this.cursorStats(n)),
    };
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

  /** Dead letters parked for a cursor, oldest first. */
  deadLetters(cursor: string, limit = 100): StoredDeadLetter[] {
    const out: StoredDeadLetter[] = [];
    for (const { key, value } of this.dead.getRange({
      start: [cursor, 0],
      end: [cursor, Number.MAX_SAFE_INTEGER],
      limit,
    })) {
      const v = value as { code: string; message: string; at: number; entry: Uint8Array | null };
      out.push({
        cursor,
        seq: key[1],
        code: v.code,
        message: v.message,
        at: v.at,
        reading: v.entry ? decodeEntry(v.entry, key[1]).reading : null,
      });
    }
    return out;
  }

  /** Waits for queued writes, then closes the environment. Later calls are refused with SLUICE_QUEUE_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.writing || this.flushing > 0 || this.pending.length > 0)
      await new Promise<void>((resolve) => (this.idle = resolve));
    await this.root.close();
    this.guard?.close();
  }

  private enqueue<T>(run: (now: number) => T, gathered = false, readings = 0, diskNeed = 0): Promise<T> {
    if (this.closed) {
      return Promise.reject(
        new SluiceError('SLUICE_QUEUE_CLOSED', 'the queue is closed', { retriable: true }),
      );
    }
    if (this.options.readOnly) {
      return Promise.reject(new SluiceError('SLUICE_QUEUE_IO', 'the queue was opened read-only'));
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, readings, diskNeed, resolve: (v) => resolve(v as T), reject });
      this.kick(gathered);
    });
  }

  private kick(gathered = false): void {
    if (this.writing) {
      // An inline round waiting for the end of this turn starts as soon as this task is done instead.
      if (gathered && this.inlineScheduled === 'turn') this.scheduleInline('now');
      return;
    }
    if (this.pending.length === 0 && (!this.trimPending || this.commitFailed)) {
      if (this.flushing === 0) {
        this.idle?.();
        this.idle = undefined;
      }
      return;
    }
    this.writing = true;
    // An inline round only once no background round is still flushing, so rounds resolve in commit order.
    if (this.flushing === 0 && this.inlineAllowed()) this.scheduleInline(gathered ? 'now' : 'turn');
    else void this.backgroundRound();
  }

  /**
   * `turn`: after this turn of the event loop (setImmediate), so that every op the sockets deliver in it
   * joins. `now`: once the current task is done (a microtask), for a caller that gathered its turn already.
   */
  private scheduleInline(when: 'turn' | 'now'): void {
    const token = ++this.inlineToken;
    this.inlineScheduled = when;
    const run = (): void => {
      if (token === this.inlineToken) this.inlineRound();
    };
    if (when === 'now') queueMicrotask(run);
    else setImmediate(run);
  }

  private inlineAllowed(): boolean {
    // A commit that fails in lmdb-js's write thread also rejects a promise of lmdb-js's that nobody can
    // handle, which ends the process (measured at ENOSPC); an inline commit fails by a plain throw. So on
    // a nearly full disk, where a commit can fail for want of space, every commit runs inline.
    if (this.diskTight) return true;
    const mode = this.options.commitMode ?? 'auto';
    if (mode !== 'auto') return mode === 'inline';
    return Date.now() >= this.backgroundUntil;
  }

  /**
   * One group commit on the event loop, with every op queued by the time it runs (see `scheduleInline`).
   * `transactionSync` returns only after LMDB's fdatasync and its O_DSYNC meta-page write (checked with
   * `strace -e inject=fdatasync:delay_exit=...`): what it resolves is durable.
   */
  private inlineRound(): void {
    this.inlineScheduled = undefined;
    this.inlineToken++;
    const ops = this.pending;
    this.pending = [];
    const before = this.snapshot();
    const outcomes: Outcome[] = [];
    let opsDone = 0;
    const t0 = performance.now();
    try {
      this.root.transactionSync(() => {
        this.runOps(ops, outcomes);
        opsDone = performance.now();
      });
    } catch (err) {
      this.restore(before);
      this.failAll(ops, err, opsDone !== 0);
      this.writing = false;
      this.kick();
      return;
    }
    this.commitFailed = false;
    this.noteInlineDisk(performance.now() - (opsDone || t0));
    this.commits++;
    this.durableSeq = Math.max(this.durableSeq, this.state.lastSeq);
    this.writing = false;
    this.settle(ops, outcomes);
    this.kick();
  }

  private noteInlineDisk(ms: number): void {
    if (this.options.noSync || (this.options.commitMode ?? 'auto') !== 'auto') return;
    this.inlineDiskMs[this.inlineSamples++ % INLINE_WINDOW] = ms;
    // Judged every 16 commits once the window is full (the first commits of a cold file are not typical).
    if (this.inlineSamples < INLINE_WINDOW || this.inlineSamples % 16 !== 0) return;
    const recent = this.inlineDiskMs.slice().sort();
    if (recent[recent.length >> 1]! > INLINE_DISK_BUDGET_MS) {
      this.backgroundUntil = Date.now() + (this.options.backgroundHoldMs ?? BACKGROUND_HOLD_MS);
      this.fallbacks++;
      this.inlineSamples = 0;
    }
  }

  /**
   * One group commit in LMDB's write thread: every op queued so far, plus a chunk of trimming, in one
   * transaction; its ops resolve only once it is flushed. (With lmdb-js 3.5 the transaction promise itself
   * settles after the fdatasync, even with overlappingSync: checked with `strace -e
   * inject=fdatasync:delay_exit=...`; `flushed` is awaited as well so that this stays true whatever a later
   * lmdb-js does.)
   */
  private async backgroundRound(): Promise<void> {
    let ops: Op[] = [];
    let taken = false;
    const before = this.snapshot();
    const outcomes: Outcome[] = [];
    try {
      await this.root.transaction(() => {
        // The ops are taken when LMDB runs this callback (a later turn of the event loop, once the write
        // thread holds the transaction), not when the round was asked for: everything queued meanwhile,
        // e.g. by all the producers the previous commit woke, joins this commit.
        ops = this.pending;
        this.pending = [];
        taken = true;
        this.runOps(ops, outcomes);
      });
    } catch (err) {
      if (!taken) {
        // The transaction failed before it ran: what was waiting for it fails, or it would retry forever.
        ops = this.pending;
        this.pending = [];
      }
      this.restore(before);
      this.failAll(ops, err, taken);
      this.writing = false;
      this.kick();
      return;
    }
    this.commitFailed = false;
    this.commits++;
    const committedSeq = this.state.lastSeq;
    const flushed = this.options.noSync ? Promise.resolve(true) : this.root.flushed;
    this.flushing++;
    this.writing = false;
    this.kick();
    try {
      await flushed;
    } catch (err) {
      this.flushing--;
      this.failAll(ops, err);
      this.kick();
      return;
    }
    this.flushing--;
    this.durableSeq = Math.max(this.durableSeq, committedSeq);
    this.settle(ops, outcomes);
    this.kick();
  }

  /** The body of every round, inside its write transaction. */
  private runOps(ops: readonly Op[], outcomes: Outcome[]): void {
    const now = Date.now();
    const roundNeed = ops.reduce((n, op) => n + op.diskNeed, 0);
    if (this.guard && roundNeed > 0) {
      const room = this.guard.check(() => this.lmdbPages(), roundNeed);
      this.room = room.appendable;
      this.roomFsFree = room.fsFree;
      this.diskTight = room.tight;
    } else this.room = Number.POSITIVE_INFINITY;
    this.trimStep();
    for (const op of ops) {
      try {
        outcomes.push({ ok: true, value: op.run(now) });
      } catch (error) {
        // A planned refusal (queue full, bad ack) throws before the op wrote anything: only it fails.
        if (!isSluiceError(error)) throw error;
        outcomes.push({ ok: false, error });
      }
    }
    this.trimStep(); // what this round's acks freed, so stats are exact when the acks resolve
    this.meta.putSync(STATE_KEY, this.state);
  }

  /** Resolves a durable round's ops, then tells readers (sinks) that there is more to read. */
  private settle(ops: readonly Op[], outcomes: readonly Outcome[]): void {
    let appended = false;
    ops.forEach((op, i) => {
      const o = outcomes[i];
      if (o?.ok) {
        appended ||= isIngestResult(o.value);
        op.resolve(o.value);
      } else op.reject(o?.error);
    });
    if (appended) this.emit('append', this.durableSeq);
  }

  /** `inCommit`: the error came from LMDB's commit (page writes, sync), not from the ops before it. */
  private failAll(ops: readonly Op[], err: unknown, inCommit = false): void {
    this.commitFailed = true;
    const hinted = this.commitError(err, inCommit);
    for (const op of ops) {
      if (hinted.code === 'SLUICE_QUEUE_FULL') this.rejected += op.readings;
      op.reject(hinted);
    }
  }

  /** What a failed commit tells its callers: a full disk as such (not LMDB's EIO), anything else as IO. */
  private commitError(err: unknown, inCommit: boolean): SluiceError {
    if (isSluiceError(err)) return err;
    // lmdb-js's write thread also rejects a promise of its own with the cause; nobody else awaits it, and
    // an unhandled rejection would end the process.
    const commitError = (err as { commitError?: unknown } | null)?.commitError;
    if (commitError instanceof Promise) {
      commitError.catch((cause: unknown) => {
        if (printedUnterminated(cause)) endNativeStderrLine();
      });
    }
    // A page write of the commit failed: LMDB printed "Write error: ..." to stderr with no newline. (A
    // failed page spill during the ops prints a newline after it; ending the line then would add an empty one.)
    if (inCommit && printedUnterminated(err)) endNativeStderrLine();
    const { dir } = this.options;
    const detail = err instanceof Error ? err.message : String(err);
    if (isDiskFull(err, dir, this.guard?.reserveBytes ?? 0)) {
      return new SluiceError(
        'SLUICE_QUEUE_FULL',
        `the disk holding the queue (${dir}) is full: a commit failed (${detail})`,
        {
          retriable: true,
          hint: 'free space on the file system of gateway.data_dir (or let the sinks catch up); the write is retried by its source',
          cause: err,
        },
      );
    }
    return new SluiceError('SLUICE_QUEUE_IO', `the queue could not commit: ${detail}`, {
      retriable: true,
      hint: 'check free disk space and the data directory permissions; the write will be retried by its source',
      cause: err,
    });
  }

  /** LMDB's page counts for the disk guard (inside the write transaction). */
  private lmdbPages(): LmdbPages {
    interface TreeStat {
      readonly pageSize: number;
      readonly treeBranchPageCount: number;
      readonly treeLeafPageCount: number;
      readonly overflowPages: number;
    }
    const pagesOf = (t: TreeStat): number => t.treeBranchPageCount + t.treeLeafPageCount + t.overflowPages;
    const root = this.root.getStats() as TreeStat & { lastPageNumber: number; free: TreeStat };
    return {
      pageSize: root.pageSize,
      endPage: root.lastPageNumber + 1,
      // Only on a tight disk: three more calls into LMDB.
      usedPages: () => {
        let used = 2 + pagesOf(root) + pagesOf(root.free); // two meta pages, main tree, free list
        for (const db of [this.entries, this.meta, this.dead]) used += pagesOf(db.getStats() as TreeStat);
        return used;
      },
    };
  }

  private applyAppend(bufs: readonly Buffer[], size: number): IngestResult {
    const { maxBytes, onFull } = this.options;
    if (size > maxBytes) {
      this.rejected += bufs.length;
      throw new SluiceError(
        'SLUICE_READING_TOO_LARGE',
        `an append of ${size} bytes exceeds queue.max_bytes (${maxBytes})`,
        {
          hint: 'raise queue.max_bytes or send smaller payloads',
        },
      );
    }
    const need = size * DISK_PER_BYTE + DISK_PER_APPEND; // as passed to enqueue()
    if (need > this.room) {
      // Refused whatever on_full says (before anything is dropped): the pages that dropping frees are
      // reusable only after this commit, and a disk filled by others is no reason to lose readings.
      this.rejected += bufs.length;
      this.diskFull = true;
      throw new SluiceError(
        'SLUICE_QUEUE_FULL',
        `the disk holding the queue (${this.options.dir}) is full: ${this.roomFsFree} bytes free on the file system, and the queue keeps ${this.guard?.reserveBytes ?? 0} bytes for its own commits`,
        {
          retriable: true,
          hint: 'free space on the file system of gateway.data_dir, or lower queue.max_bytes below its free space; readings are refused (counted) until the sinks catch up or space is freed',
        },
      );
    }
    this.room -= need;
    this.diskFull = false;
    if (this.state.bytes + size > maxBytes) {
      if (onFull === 'reject_new') {
        this.rejected += bufs.length;
        throw new SluiceError(
          'SLUICE_QUEUE_FULL',
          `the queue holds ${this.state.bytes} of ${maxBytes} bytes`,
          {
            retriable: true,
            hint: 'the sinks are behind or down; readings are refused until they catch up (queue.on_full: reject_new)',
          },
        );
      }
      while (this.state.bytes + size > maxBytes && this.firstSeq <= this.state.lastSeq) this.dropOldest();
    }
    const firstSeq = this.state.lastSeq + 1;
    let seq = firstSeq;
    for (const buf of bufs) this.entries.putSync(seq++, buf, { append: true });
    this.state.lastSeq = seq - 1;
    this.state.bytes += size;
    return { firstSeq, lastSeq: this.state.lastSeq, bytes: size };
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
      throw new SluiceError('SLUICE_CURSOR_UNKNOWN', `no queue cursor named "${name}"`, {
        hint: 'cursors are created when a sink starts; list them with `sluice queue stats`',
      });
    }
    return c;
  }

  private snapshot(): {
    state: PersistedState;
    firstSeq: number;
    cursors: Map<string, CursorState>;
    rejected: number;
  } {
    const cursors = new Map<string, CursorState>();
    for (const [k, v] of this.cursors) cursors.set(k, { ...v });
    return { state: { ...this.state }, firstSeq: this.firstSeq, cursors, rejected: this.rejected };
  }

  private restore(s: ReturnType<Queue['snapshot']>): void {
    this.state = s.state;
    this.firstSeq = s.firstSeq;
    this.cursors = s.cursors;
    this.trimPending = true;
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

/** Whether LMDB printed a message for this error to stderr with no newline (mdb.c: mdb_page_flush, mdb_txn_commit). */
function printedUnterminated(err: unknown): boolean {
  return err instanceof Error && /Attempting to write page|Transaction must abort/.test(err.message);
}

function isIngestResult(v: unknown): v is IngestResult {
  return typeof v === 'object' && v !== null && 'firstSeq' in v && 'lastSeq' in v;
}
