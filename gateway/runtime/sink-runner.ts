// One runner per sink: reads batches from the sink's own queue cursor, writes them upstream, and acks the
// cursor only up to what the sink reports as committed. On failure it rewinds to the last ack and retries
// with backoff, forever: an entry is never skipped, and never acked before upstream confirmed it.
import type { Logger } from 'pino';
import { failedHealth, type ComponentHealth, type Sink, type SinkProgress } from '../components.js';
import type { BackoffOptions } from './retry.js';
import { backoffDelay, sleep, within } from './retry.js';
import { errorMessage, isSluiceError } from '../errors.js';
import type { ComponentMetrics } from '../metrics-spec.js';
import type { ProcessorChain } from '../processors/chain.js';
import { SinkLedger } from '../processors/sink-ledger.js';
import { ResumePoint } from './resume-point.js';
import type { CursorStart, Queue } from '../queue/queue.js';
import type { QueuedReading } from '../reading.js';
import type { LastSinkError, SinkRunnerStatus } from '../status.js';

export interface SinkRunnerOptions {
  readonly startFrom: CursorStart;
  readonly batch: { readonly max_count: number; readonly max_bytes: number; readonly linger_ms: number };
  readonly retry: BackoffOptions;
  /** How often an idle runner asks the sink to commit held data (time-based file rolls). */
  readonly idleFlushMs?: number;
  /**
   * The sink's `processors:` chain, run on every batch read: the sink gets what it leaves, and the cursor
   * is acked past dropped entries through the ledger (processors/sink-ledger.ts).
   */
  readonly processors?: ProcessorChain;
  /**
   * Where the resume point of a chain that holds readings (`aggregate`) is kept (resume-point.ts); without
   * it such a chain still works, but after a crash a window whose first inputs were acked may be sent
   * again partial.
   */
  readonly stateDir?: string;
}

export class SinkRunner {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  /** Highest sequence handed to the sink; rewound to the cursor's durable position on failure. */
  private position = 0;
  private connected = false;
  private failures = 0;
  private lastError: LastSinkError | undefined;
  private lastAckAt: number | undefined;
  /**
   * Bytes the sink reported as durable upstream that no ack has counted yet: a failed ack leaves them here,
   * and the next ack counts them with its events, so that sent events and bytes move together.
   */
  private uncountedBytes = 0;
  /** Health while the queue refuses this sink's acks (see commit). */
  private ackFailure: ComponentHealth | undefined;
  private pending: SinkRunnerStatus['pending'];
  /** Set when stop() gave up waiting: whatever the sink returns later is never acked by this runner. */
  private abandoned = false;
  private wake: (() => void) | undefined;
  private readonly onAppend = (): void => this.wake?.();
  /** With a chain only: what was handed to the sink, to ack past dropped entries. */
  private readonly ledger: SinkLedger | undefined;
  /** With a chain that holds readings only: the highest seq the sink committed, kept across restarts. */
  private resumePoint: ResumePoint | undefined;

  constructor(
    readonly sink: Sink,
    private readonly queue: Queue,
    private readonly options: SinkRunnerOptions,
    private readonly log: Logger,
    private readonly metrics: ComponentMetrics,
  ) {
    this.ledger = options.processors && options.processors.length > 0 ? new SinkLedger() : undefined;
  }

  /** Creates the sink's cursor (if new) and starts the loop. Connecting happens in the loop, with retries. */
  async start(): Promise<void> {
    await this.queue.openCursor(this.sink.name, this.options.startFrom);
    this.position = this.queue.cursorPosition(this.sink.name);
    const chain = this.options.processors;
    if (chain?.holdsState && this.options.stateDir !== undefined) {
      this.resumePoint = await ResumePoint.load(this.options.stateDir, this.sink.name);
      chain.resume(this.resumePoint.committed);
    }
    this.queue.on('append', this.onAppend);
    this.loop = this.run();
  }

  /**
   * Stops reading, lets the sink commit what it holds, and closes it. With `timeoutMs`, gives up after that
   * long and resolves false: a sink stuck in a call that never returns (a hung mount) must not hold up a
   * shutdown or the next config. The abandoned runner never acks again (its successor reads on from the
   * durable cursor), and closes its sink if the stuck call ever returns.
   */
  async stop(timeoutMs?: number): Promise<boolean> {
    this.abort.abort();
    this.wake?.();
    this.queue.off('append', this.onAppend);
    const done = this.finish();
    if (timeoutMs === undefined) {
      await done;
      return true;
    }
    const inTime = await within(done, timeoutMs);
    if (inTime) await done;
    else {
      this.abandoned = true;
      this.log.error(
        { timeout_ms: timeoutMs, stuck_in: this.pending?.op },
        'sink did not stop in time; abandoned, its unacknowledged readings stay queued',
      );
      done.catch((err: unknown) =>
        this.log.warn({ err: errorMessage(err) }, 'closing an abandoned sink failed'),
      );
    }
    return inTime;
  }

  private async finish(): Promise<void> {
    await this.loop;
    if (this.connected && !this.abandoned) {
      try {
        await this.commit(await this.call('flush', () => this.sink.flush('shutdown')));
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'final flush failed; unflushed readings stay queued');
      }
    }
    await this.sink.close();
    this.connected = false;
  }

  /** One call into the sink, visible in status() while it runs. */
  private async call<T>(op: 'connect' | 'write' | 'flush', fn: () => Promise<T>): Promise<T> {
    this.pending = { op, since: Date.now() };
    try {
      return await fn();
    } finally {
      this.pending = undefined;
    }
  }

  status(): SinkRunnerStatus {
    return {
      sink: this.sink.name,
      type: this.sink.type,
      connected: this.connected,
      health: this.ackFailure ?? this.sink.health(),
      consecutiveFailures: this.failures,
      lastError: this.lastError,
      lastAckAt: this.lastAckAt,
      position: this.position,
      pending: this.pending,
    };
  }

  private get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const { batch: b } = this.options;
    const idleFlushMs = this.options.idleFlushMs ?? 1000;
    while (!this.stopping) {
      try {
        if (!this.connected) {
          await this.call('connect', () => this.sink.connect());
          if (this.stopping) break;
          this.connected = true;
          this.lastError = undefined;
          this.log.info('connected');
        }
        // A windowing chain judges lateness by when the queue accepted each reading.
        const arrival = this.options.processors?.holdsState === true;
        let read = this.queue.readSized(this.position, b.max_count, b.max_bytes, arrival);
        if (read.readings.length > 0 && read.readings.length < b.max_count && b.linger_ms > 0) {
          // Let a small batch fill up for linger_ms rather than sending many tiny requests.
          await this.waitForAppend(b.linger_ms, b.max_count);
          read = this.queue.readSized(this.position, b.max_count, b.max_bytes, arrival);
        }
        const batch = read.readings;
        if (batch.length === 0) {
          // Caught up: windows whose end (plus lateness) has passed by the clock are emitted now.
          const due = this.tick();
          if (due.length > 0) await this.commit(await this.call('write', () => this.sink.write(due)));
          await this.commit(await this.call('flush', () => this.sink.flush('idle')));
          this.lastError = undefined;
          await this.waitForAppend(idleFlushMs, 1);
          continue;
        }
        this.metrics.received(batch.length, read.bytes);
        const toSink = this.process(batch);
        // A batch the chain dropped entirely is not written: the ack moves past it through the ledger.
        const progress: SinkProgress =
          toSink.length > 0 ? await this.call('write', () => this.sink.write(toSink)) : {};
        this.position = lastSeq(batch);
        // A pipelining sink (Kafka) returns before this batch is confirmed: only an ack of the upstream
        // ends a run of failures, else every resend would reset the backoff and the failure count.
        if (await this.commit(progress)) {
          this.failures = 0;
          this.lastError = undefined;
        }
      } catch (err) {
        await this.recover(err);
      }
    }
  }

  /** The batch as the sink is to get it: through the chain (recorded in the ledger), or as read. */
  private process(batch: readonly QueuedReading[]): readonly QueuedReading[] {
    const chain = this.options.processors;
    if (!chain || !this.ledger) return batch;
    const { kept } = chain.run(batch);
    this.ledger.record(lastSeq(batch), kept);
    return kept;
  }

  /** The idle flush of a chain that holds readings: what it emits, recorded in the ledger. */
  private tick(): readonly QueuedReading[] {
    const chain = this.options.processors;
    if (!chain?.holdsState || !this.ledger) return [];
    const due = chain.tick<QueuedReading>(Date.now());
    if (due.length > 0) this.ledger.record(this.position, due);
    return due;
  }

  /**
   * Acks the cursor up to what the sink committed, parking dead letters in the same transaction, and counts
   * what the ack moved past as sent (events from the cursor, bytes from the sink); true when the upstream
   * confirmed anything new.
   */
  private async commit(progress: SinkProgress): Promise<boolean> {
    if (this.abandoned) return false;
    this.uncountedBytes += progress.bytes ?? 0;
    const through = progress.committedThrough;
    const dead = progress.deadLetters ?? [];
    const acked = this.queue.cursorPosition(this.sink.name);
    // The resume point goes before the ack: ahead of the cursor after a crash between the two, it only skips
    // windows the sink did commit (their inputs are read again, their output is not sent again).
    if (this.resumePoint && through !== undefined) await this.resumePoint.raise(through);
    // With a chain, the ledger says how far past dropped entries the ack may go, and counts kept events.
    const led = this.ledger?.ackable(acked, through, this.options.processors?.heldFrom());
    if (
      led
        ? led.upTo <= acked && dead.length === 0
        : (through === undefined || through <= acked) && dead.length === 0
    )
      return false;
    const upTo = led ? led.upTo : Math.max(acked, through ?? acked);
    try {
      await this.queue.ack(
        this.sink.name,
        upTo,
        dead.map((d) => ({ seq: d.reading.seq, code: d.error.code, message: d.error.message })),
      );
    } catch (err) {
      // The upstream has the readings but the queue cannot record it (a full or failing disk): the sink
      // is not to be shown healthy while its cursor cannot move. Cleared by the next ack that commits.
      const failed = failedHealth('degraded', err, 'SLUICE_QUEUE_IO', { lastSuccessAt: this.lastAckAt });
      this.ackFailure = { ...failed, detail: `cannot record progress in the queue: ${failed.detail ?? ''}` };
      throw err;
    }
    this.ackFailure = undefined;
    if (dead.length > 0) {
      this.metrics.discarded(dead.length, 'dead_letter');
      this.log.error(
        { count: dead.length, first: dead[0]?.error.toJSON() },
        'upstream refused readings for good; parked as dead letters',
      );
    }
    const events = Math.max(0, (led ? led.events : upTo - acked) - dead.length);
    if (events > 0 || this.uncountedBytes > 0) this.metrics.sent(events, this.uncountedBytes);
    this.uncountedBytes = 0;
    this.lastAckAt = Date.now();
    return true;
  }

  private async recover(err: unknown): Promise<void> {
    const code = isSluiceError(err) ? err.code : 'SLUICE_SINK_WRITE';
    const stage = this.connected ? 'write' : 'connect';
    this.metrics.error(stage, code);
    this.lastError = {
      // A plain Node error keeps its errno code (ENOTDIR, EACCES): that is what tells a config fault.
      code: isSluiceError(err) ? err.code : ((err as NodeJS.ErrnoException | undefined)?.code ?? code),
      message: errorMessage(err),
      retriable: isSluiceError(err) && err.retriable,
      at: Date.now(),
    };
    // Whatever the sink held uncommitted is gone (its contract); feed again from the durable position.
    this.position = this.queue.cursorPosition(this.sink.name);
    // The replay is judged afresh: state built from readings about to be read again would drop them.
    this.ledger?.clear();
    this.options.processors?.reset();
    if (this.resumePoint) this.options.processors?.resume(this.resumePoint.committed);
    const delay = backoffDelay(this.failures, this.options.retry);
    this.failures++;
    const fields = { err: errorMessage(err), stage, attempt: this.failures, retry_in_ms: delay };
    if (isSluiceError(err) && !err.retriable)
      this.log.error({ ...fields, hint: err.hint }, 'sink failed; retrying');
    else this.log.warn(fields, 'sink failed; retrying');
    if (stage === 'write' && isSluiceError(err) && err.code === 'SLUICE_UPSTREAM_UNREACHABLE')
      this.connected = false;
    await sleep(delay, this.abort.signal);
  }

  /** Waits until at least `count` readings lie beyond the position, `ms` passes, or the runner stops. */
  private async waitForAppend(ms: number, count: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.stopping && this.queue.lastSeq - this.position < count) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
      });
      this.wake = undefined;
    }
  }
}

function lastSeq(batch: readonly QueuedReading[]): number {
  return batch[batch.length - 1]?.seq ?? 0;
}
