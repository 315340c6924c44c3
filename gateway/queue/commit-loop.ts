// The queue's group commit: one writer loop that commits every op queued during the previous commit in one
// transaction and resolves them only once it is flushed, on the event loop while the disk is fast and in
// LMDB's write thread when it is not. What a round does inside its transaction is the store's (store.ts).
import type { RootDatabase } from 'lmdb';
import type { SluiceError } from '../errors.js';
import type { QueueOptions } from './options.js';
import type { Op, Outcome } from './ops.js';

/** `auto`: the most the event loop may wait for the disk in a typical (median) commit before commits move off it. */
const INLINE_DISK_BUDGET_MS = 5;
/** `auto`: inline commits the median is taken over (a median, so a few commits the OS preempted do not count). */
const INLINE_WINDOW = 32;
/** `auto`: how long commits stay in the background before inline commits are measured again. */
const BACKGROUND_HOLD_MS = 60_000;

/** The store's side of every round; `S` is what it needs to take a failed round back. */
export interface CommitStore<S> {
  /** The settings in force (a config push changes `commitMode`). */
  settings(): Pick<QueueOptions, 'commitMode' | 'commitDelayMs' | 'backgroundHoldMs' | 'noSync'>;
  /** The in-memory state a round may change, taken before its transaction. */
  snapshot(): S;
  /**
   * The body of a round, inside its write transaction: one outcome per op. Throws (the round then fails
   * whole) when the transaction must abort.
   */
  apply(ops: readonly Op[]): Outcome[];
  /** A round's transaction failed: puts back the state taken before it. */
  restore(before: S): void;
  /**
   * What the callers of a failed round are told (`inCommit`: the error came from LMDB's commit, page writes
   * or sync, not from the ops before it). `ops`: those the round had not refused itself.
   */
  failure(ops: readonly Op[], err: unknown, inCommit: boolean): SluiceError;
  /** The highest sequence the store has committed (read right after a commit). */
  committedSeq(): number;
  /** Entries up to `seq` are flushed to disk: readers may have them. Called before the round's ops resolve. */
  durable(seq: number): void;
  /** Work left for ops-less rounds (trimming in chunks). */
  hasDeferredWork(): boolean;
  /** The disk is nearly full: every commit must run inline (see `inlineAllowed`). */
  mustCommitInline(): boolean;
}

export class CommitLoop<S> {
  private pending: Op[] = [];
  private writing = false;
  /** Rounds committed but not yet flushed. */
  private flushing = 0;
  private idle: (() => void) | undefined;
  private commitCount = 0;
  /** The ms recent inline commits spent in LMDB's commit (page writes, fsync), not in the ops. */
  private readonly inlineDiskMs = new Float64Array(INLINE_WINDOW);
  private inlineSamples = 0;
  private backgroundUntil = 0;
  /** An inline round is scheduled (`writing` is set) and has not started; the token voids a superseded one. */
  private inlineScheduled: 'turn' | 'now' | undefined;
  private inlineToken = 0;
  private fallbackCount = 0;
  /** The last commit failed: deferred work waits for the next op instead of retrying at once. */
  private commitFailed = false;
  /** A round held back by `commitDelayMs` (`writing` is set), so that more ops join it. */
  private linger: NodeJS.Timeout | undefined;
  /** When the oldest op in `pending` was submitted (performance.now()). */
  private firstPendingAt = 0;

  constructor(
    private readonly db: Pick<RootDatabase, 'transaction' | 'transactionSync' | 'flushed'>,
    private readonly store: CommitStore<S>,
    /** A durable round held appends that succeeded (called after its ops resolved): wake the readers. */
    private readonly onAppended: () => void,
  ) {}

  /** Transactions committed (and flushed) so far. */
  get commits(): number {
    return this.commitCount;
  }

  /** Times `auto` moved commits off the event loop because inline fsyncs were slow. */
  get fallbacks(): number {
    return this.fallbackCount;
  }

  /** How the next commit waits for the disk. */
  get mode(): 'inline' | 'background' {
    return this.inlineAllowed() ? 'inline' : 'background';
  }

  /**
   * Queues an op for the next round. `gathered`: the caller has collected its turn's work already, so a
   * round waiting for the end of the turn may start at once.
   */
  submit(op: Op, gathered = false): void {
    if (this.pending.length === 0) this.firstPendingAt = performance.now();
    this.pending.push(op);
    this.kick(gathered);
  }

  /** Resolves once every queued op has settled and no round is running or flushing. */
  whenIdle(): Promise<void> {
    if (!this.writing && this.flushing === 0 && this.pending.length === 0) return Promise.resolve();
    // Closing: nothing more is worth waiting for.
    if (this.linger !== undefined) this.endLinger();
    return new Promise<void>((resolve) => (this.idle = resolve));
  }

  private kick(gathered = false): void {
    if (this.writing) {
      // An inline round waiting for the end of this turn starts as soon as this task is done instead.
      if (gathered && this.inlineScheduled === 'turn') this.scheduleInline('now');
      return;
    }
    if (this.pending.length === 0 && (!this.store.hasDeferredWork() || this.commitFailed)) {
      if (this.flushing === 0) {
        this.idle?.();
        this.idle = undefined;
      }
      return;
    }
    this.writing = true;
    // The linger counts from the oldest op's arrival: ops that waited through a slow commit already are
    // not held again, so an op never waits longer for the linger than `commitDelayMs`, however slow the
    // disk. Only ops wait: deferred work (trimming) has nobody to batch with. Nothing is resolved meanwhile.
    const wait =
      this.pending.length === 0
        ? 0
        : (this.store.settings().commitDelayMs ?? 0) - (performance.now() - this.firstPendingAt);
    // Under a millisecond left: not worth a timer, whose resolution is a millisecond anyway.
    if (wait >= 1) {
      this.linger = setTimeout(() => this.endLinger(), wait);
      return;
    }
    this.startRound(gathered);
  }

  /**
   * The linger is over: the round starts once this task is done, with every op queued meanwhile (a timer
   * fires before the turn's socket reads, so waiting for the end of the turn would gain nothing).
   */
  private endLinger(): void {
    clearTimeout(this.linger);
    this.linger = undefined;
    this.startRound(true);
  }

  /** `writing` is set: runs the round inline or in LMDB's write thread. */
  private startRound(gathered: boolean): void {
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

  /**
   * `auto` is inline while the median wait for the disk of the last 32 inline commits is at most 5 ms, else
   * background for a minute (`backgroundHoldMs`), then measured again.
   */
  private inlineAllowed(): boolean {
    // A commit that fails in lmdb-js's write thread also rejects a promise of lmdb-js's that nobody can
    // handle, which ends the process (measured at ENOSPC); an inline commit fails by a plain throw. So on
    // a nearly full disk, where a commit can fail for want of space, every commit runs inline.
    if (this.store.mustCommitInline()) return true;
    const mode = this.store.settings().commitMode ?? 'auto';
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
    const before = this.store.snapshot();
    let outcomes: Outcome[] = [];
    let opsDone = 0;
    const t0 = performance.now();
    try {
      this.db.transactionSync(() => {
        outcomes = this.store.apply(ops);
        opsDone = performance.now();
      });
    } catch (err) {
      this.store.restore(before);
      this.fail(ops, err, opsDone !== 0, outcomes);
      this.writing = false;
      this.kick();
      return;
    }
    this.commitFailed = false;
    this.noteInlineDisk(performance.now() - (opsDone || t0));
    this.commitCount++;
    this.store.durable(this.store.committedSeq());
    this.writing = false;
    this.settle(ops, outcomes);
    this.kick();
  }

  private noteInlineDisk(ms: number): void {
    const { noSync, commitMode, backgroundHoldMs } = this.store.settings();
    if (noSync === true || (commitMode ?? 'auto') !== 'auto') return;
    this.inlineDiskMs[this.inlineSamples++ % INLINE_WINDOW] = ms;
    // Judged every 16 commits once the window is full (the first commits of a cold file are not typical).
    if (this.inlineSamples < INLINE_WINDOW || this.inlineSamples % 16 !== 0) return;
    const recent = this.inlineDiskMs.slice().sort();
    if (recent[recent.length >> 1]! > INLINE_DISK_BUDGET_MS) {
      this.backgroundUntil = Date.now() + (backgroundHoldMs ?? BACKGROUND_HOLD_MS);
      this.fallbackCount++;
      this.inlineSamples = 0;
    }
  }

  /**
   * One group commit in LMDB's write thread: every op queued so far in one transaction; its ops resolve only
   * once it is flushed. (With lmdb-js 3.5 the transaction promise itself settles after the fdatasync, even
   * with overlappingSync: checked with `strace -e inject=fdatasync:delay_exit=...`; `flushed` is awaited as
   * well so that this stays true whatever a later lmdb-js does.)
   */
  private async backgroundRound(): Promise<void> {
    let ops: Op[] = [];
    let taken = false;
    const before = this.store.snapshot();
    let outcomes: Outcome[] = [];
    try {
      await this.db.transaction(() => {
        // The ops are taken when LMDB runs this callback (a later turn of the event loop, once the write
        // thread holds the transaction), not when the round was asked for: everything queued meanwhile,
        // e.g. by all the producers the previous commit woke, joins this commit.
        ops = this.pending;
        this.pending = [];
        taken = true;
        outcomes = this.store.apply(ops);
      });
    } catch (err) {
      if (!taken) {
        // The transaction failed before it ran: what was waiting for it fails, or it would retry forever.
        ops = this.pending;
        this.pending = [];
      }
      this.store.restore(before);
      this.fail(ops, err, taken, outcomes);
      this.writing = false;
      this.kick();
      return;
    }
    this.commitFailed = false;
    this.commitCount++;
    const committedSeq = this.store.committedSeq();
    const flushed = this.store.settings().noSync === true ? Promise.resolve(true) : this.db.flushed;
    this.flushing++;
    this.writing = false;
    this.kick();
    try {
      await flushed;
    } catch (err) {
      this.flushing--;
      // Committed, so there is nothing to put back; its callers learn that it may not be on disk.
      this.fail(ops, err, false, outcomes);
      this.kick();
      return;
    }
    this.flushing--;
    this.store.durable(committedSeq);
    this.settle(ops, outcomes);
    this.kick();
  }

  /** Resolves a durable round's ops, then tells readers (sinks) that there is more to read. */
  private settle(ops: readonly Op[], outcomes: readonly Outcome[]): void {
    let appended = false;
    ops.forEach((op, i) => {
      const o = outcomes[i];
      if (o?.ok) {
        appended ||= op.kind === 'append';
        o.resolve();
      } else op.reject(o?.error);
    });
    if (appended) this.onAppended();
  }

  /**
   * A round failed. An op its ops already refused (too large, queue full) keeps its own error, counted once
   * when refused; the others share the round's error (`outcomes` is empty when the ops never finished).
   */
  private fail(ops: readonly Op[], err: unknown, inCommit: boolean, outcomes: readonly Outcome[]): void {
    this.commitFailed = true;
    const undecided = ops.filter((_, i) => outcomes[i]?.ok !== false);
    const error = this.store.failure(undecided, err, inCommit);
    ops.forEach((op, i) => {
      const o = outcomes[i];
      op.reject(o !== undefined && !o.ok ? o.error : error);
    });
  }
}
