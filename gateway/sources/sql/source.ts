// The `sql` source: polls the incremental query one batch at a time and appends each batch's readings with
// the batch's last position in one queue transaction (exactly once into the queue: after a crash it resumes
// after the last committed row). Connection and query failures are retried with backoff and shown in health.
import type { ComponentHealth, Source, SourceContext } from '../../components.js';
import { failedHealth } from '../../components.js';
import { SluiceError, errorMessage, isSluiceError, type ErrorCode } from '../../errors.js';
import { backoffDelay, sleep } from '../../runtime/retry.js';
import type { Reading } from '../../reading.js';
import { connect, connectionLost, describeTarget, queryError, type SqlClient } from './client.js';
import {
  batchQuery,
  checkValue,
  comparePositions,
  compareValues,
  isPosition,
  maxQuery,
  rowPosition,
  startPosition,
  stateKey,
  type Position,
} from './incremental.js';
import { RowMapper, type Row } from './mapping.js';
import type { SqlConfig } from './schema.js';

/** Counters since the source started. */
export interface SqlStats {
  readonly rows: number;
  readonly readings: number;
  /** Metric values that were NULL (skipped). */
  readonly nulls: number;
  /** Rows or values that gave no reading, by reason (also counted as the source's rejections). */
  readonly rejected: number;
  /** Rows at or before the last position that the query returned anyway: skipped, never imported twice. */
  readonly backwards: number;
  readonly batches: number;
  readonly connects: number;
  /** Polls that failed (connection, login, query, queue), each followed by a backoff. */
  readonly failures: number;
  /** The last position committed with readings (what a restart resumes after). */
  readonly last?: Position;
}

export interface SqlHealth extends ComponentHealth {
  readonly sql: SqlStats;
}

/** What the queue refuses an append with: the batch is not stored, the position stays, the rows come again. */
const QUEUE_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'SLUICE_QUEUE_FULL',
  'SLUICE_QUEUE_IO',
  'SLUICE_QUEUE_CLOSED',
  'SLUICE_READING_TOO_LARGE',
]);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class SqlSource implements Source {
  readonly type = 'sql';
  private ctx: SourceContext | undefined;
  private client: SqlClient | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private position: Position | undefined;
  private readonly mapper: RowMapper;
  private readonly key: string;
  private readonly target: string;
  private readonly stats: Mutable<SqlStats> = {
    rows: 0,
    readings: 0,
    nulls: 0,
    rejected: 0,
    backwards: 0,
    batches: 0,
    connects: 0,
    failures: 0,
  };
  private status: ComponentHealth = { state: 'starting' };
  /** The position is one rows were imported up to (from the queue, or a batch), not just start_value. */
  private imported = false;
  /** The next batch, read while the previous one commits (see `prefetch`). */
  private prefetched: { readonly after: Position; readonly rows: Promise<Row[]> } | undefined;
  /** Consecutive failures, for the backoff. */
  private failures = 0;

  constructor(
    readonly name: string,
    private readonly config: SqlConfig,
  ) {
    this.mapper = new RowMapper(config, name);
    this.key = stateKey(config);
    this.target = describeTarget(config);
  }

  start(ctx: SourceContext): Promise<void> {
    if (ctx.readState === undefined) {
      return Promise.reject(
        new SluiceError('SLUICE_INTERNAL', 'the sql source needs a context with durable source state'),
      );
    }
    this.ctx = ctx;
    const saved = ctx.readState(this.key);
    this.imported = isPosition(saved);
    this.position = isPosition(saved) ? saved : startPosition(this.config);
    if (this.position) this.stats.last = this.position;
    ctx.log.info(
      { target: this.target, resume_after: this.position ?? null, state_key: this.key },
      saved === undefined ? 'sql import starts' : 'sql import resumes after the last committed row',
    );
    // The database may be down at boot: the loop connects (with backoff) and health says why it waits.
    this.loop = this.run(ctx);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.abort.abort();
    // Ending the connection fails a query still running (a slow one would hold up the stop); an append in
    // flight is the queue's and settles on its own, so whatever was committed stays committed.
    await this.disconnect();
    await this.loop;
    await this.disconnect(); // a connection the loop opened meanwhile
    this.status = { ...this.status, state: 'stopped' };
  }

  health(): SqlHealth {
    return { ...this.status, sql: { ...this.stats } };
  }

  private async run(ctx: SourceContext): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let wait: number;
      try {
        wait = await this.step(ctx);
        this.failures = 0;
      } catch (err) {
        wait = this.failed(ctx, err);
      }
      if (wait > 0) await sleep(wait, signal);
    }
  }

  /** One poll: a batch imported (0: go on at once), or nothing new (the poll interval). */
  private async step(ctx: SourceContext): Promise<number> {
    const client = await this.connected();
    const pre = this.prefetched;
    this.prefetched = undefined;
    let rows: Row[];
    try {
      // The batch read while the previous one committed, if it was read after what was committed.
      if (pre !== undefined && pre.after === this.position) rows = await pre.rows;
      else {
        const q = batchQuery(this.config, this.position);
        rows = await client.query(q.sql, q.params);
      }
    } catch (err) {
      throw this.queryFailure(err);
    }
    if (this.abort.signal.aborted) return 0;
    if (rows.length === 0) {
      await this.checkNotBackwards(client);
      this.healthy();
      return this.config.poll_interval_ms;
    }
    const now = Date.now();
    const readings: Reading[] = [];
    const before = this.position;
    let last = before;
    let backwards = 0;
    let nulls = 0;
    const rejects: Array<{ reason: string; device?: string; detail: string }> = [];
    for (const row of rows) {
      const pos = rowPosition(this.config, row);
      if (pos === undefined) {
        rejects.push({
          reason: 'sql_check_null',
          detail: `${this.config.incremental.check_column} (or the key) is NULL`,
        });
        continue;
      }
      // A row at or before the last position: the query (or the table) went backwards. Never imported again.
      const order = last === undefined ? 1 : comparePositions(pos, last);
      if (order !== undefined && order <= 0) {
        backwards++;
        continue;
      }
      last = pos;
      const mapped = this.mapper.map(row, now);
      readings.push(...mapped.readings);
      nulls += mapped.nulls;
      rejects.push(...mapped.rejects);
    }
    if (last !== before && last !== undefined) {
      // The readings and the position that produced them, in one queue transaction (also with no reading:
      // rows of NULLs move the position on).
      if (rows.length >= this.config.batch_size) this.prefetch(client, last);
      try {
        await ctx.ingest(readings, { sourceState: { key: this.key, value: { ...last } } });
      } catch (err) {
        this.prefetched = undefined; // read after a position that was not committed: read again from the old one
        throw err;
      }
      this.position = last;
      this.imported = true;
      this.stats.last = last;
    }
    this.stats.rows += rows.length;
    this.stats.readings += readings.length;
    this.stats.nulls += nulls;
    this.stats.batches++;
    for (const r of rejects) ctx.reject(r.reason, r.device, r.detail);
    this.stats.rejected += rejects.length;
    const moved = this.position !== before;
    if (backwards > 0) {
      this.stats.backwards += backwards;
      this.backwardsSeen(
        ctx,
        `the query returned ${backwards} row(s) at or before the last imported position ${JSON.stringify(before)}; they were skipped, not imported again`,
      );
    } else this.healthy();
    // A full batch that moved the position on: more rows are waiting. One that did not (every row stale or
    // without a check value) would come back the same at once: wait for the next poll.
    return moved && rows.length >= this.config.batch_size ? 0 : this.config.poll_interval_ms;
  }

  /**
   * Starts reading the batch after `after` while the current batch commits, so that the query and the queue
   * commit overlap. Only used if `after` is then committed (see `step`); the position that is stored stays the
   * one committed with the readings, so this changes nothing of exactly once.
   */
  private prefetch(client: SqlClient, after: Position): void {
    const q = batchQuery(this.config, after);
    const rows = client.query(q.sql, q.params);
    // Handled where it is awaited (the next step), or dropped with the batch it followed: this only keeps a
    // dropped read's failure from counting as an unhandled rejection.
    rows.catch((err: unknown) =>
      this.ctx?.log.debug({ err: errorMessage(err) }, 'a read-ahead batch failed'),
    );
    this.prefetched = { after, rows };
  }

  /** Caught up: the table's highest check value must not be below the last imported one (table mode). */
  private async checkNotBackwards(client: SqlClient): Promise<void> {
    const q = maxQuery(this.config);
    // Only a position that rows were imported up to: a start_value may lie beyond the table's rows.
    if (q === undefined || this.position === undefined || !this.imported) return;
    let rows;
    try {
      rows = await client.query(q.sql, q.params);
    } catch (err) {
      throw this.queryFailure(err);
    }
    const max = checkValue(rows[0]?.m);
    const order = max === undefined ? -1 : compareValues(max, this.position.value);
    if (order !== undefined && order < 0) {
      this.backwardsSeen(
        this.ctx!,
        `the highest ${this.config.incremental.check_column} in ${this.config.table?.name ?? ''} is ${max === undefined ? 'NULL (no rows)' : String(max)}, below the last imported ${String(this.position.value)}`,
      );
      throw new BackwardsReported();
    }
  }

  private backwardsSeen(ctx: SourceContext, detail: string): void {
    const err = new SluiceError('SLUICE_SQL_CHECK_BACKWARDS', `${this.target}: ${detail}`);
    // Logged when it starts, not at every poll while it lasts.
    if (this.status.lastError?.code !== err.code)
      ctx.log.error({ code: err.code, hint: err.hint }, err.message);
    this.status = failedHealth('degraded', err, err.code, { ...pick(this.status) });
  }

  private healthy(): void {
    this.status = { state: 'healthy', lastSuccessAt: Date.now() };
  }

  private async connected(): Promise<SqlClient> {
    if (this.client) return this.client;
    this.client = await connect(this.config);
    this.stats.connects++;
    this.ctx?.log.info({ target: this.target }, 'sql source connected');
    return this.client;
  }

  private async disconnect(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    try {
      await c.close();
    } catch (err) {
      this.ctx?.log.debug({ err: errorMessage(err) }, 'closing a broken sql connection failed');
    }
  }

  private queryFailure(err: unknown): unknown {
    if (connectionLost(err)) return err;
    return queryError(err, this.target);
  }

  /** A failed poll: the health says why; the next try waits the backoff (never less than the poll interval for a bad query). */
  private failed(ctx: SourceContext, err: unknown): number {
    this.prefetched = undefined;
    if (err instanceof BackwardsReported) return this.config.poll_interval_ms;
    if (this.abort.signal.aborted) return 0; // close() ended the connection under a query: nothing failed
    this.stats.failures++;
    const delay = backoffDelay(this.failures++, this.config.retry);
    if (isSluiceError(err) && err.code === 'SLUICE_SQL_QUERY') {
      this.report(ctx, 'degraded', err, err.code);
      return Math.max(delay, this.config.poll_interval_ms);
    }
    if (isSluiceError(err) && QUEUE_REFUSALS.has(err.code)) {
      // Nothing of the batch was stored and the position did not move: the same rows are read again.
      this.report(ctx, 'degraded', err, err.code);
      return delay;
    }
    // The connection is gone, refused or never came up: reconnect after the backoff.
    void this.disconnect();
    const code: ErrorCode = isSluiceError(err) ? err.code : 'SLUICE_UPSTREAM_UNREACHABLE';
    const shown = isSluiceError(err)
      ? err
      : new SluiceError(code, `${this.target}: connection lost: ${errorMessage(err)}`, { cause: err });
    this.report(ctx, 'unhealthy', shown, code);
    return delay;
  }

  private report(
    ctx: SourceContext,
    state: 'degraded' | 'unhealthy',
    err: SluiceError,
    code: ErrorCode,
  ): void {
    if (this.status.lastError?.code !== code || this.status.detail !== err.message)
      ctx.log.warn({ code, hint: err.hint, retry_attempt: this.failures }, err.message);
    this.status = failedHealth(state, err, code, pick(this.status));
  }
}

/** The health fields a failure keeps. */
function pick(h: ComponentHealth): Partial<ComponentHealth> {
  return h.lastSuccessAt === undefined ? {} : { lastSuccessAt: h.lastSuccessAt };
}

/** Thrown by the backwards check once reported: the loop waits a poll interval, nothing else. */
class BackwardsReported extends Error {}
