// The serial source: feeds what the port reads to the driver, runs a polling driver's schedule (Modbus), and
// group-commits the readings. A serial sensor gets no acknowledgement: readings are safe once appended.
import {
  DriverOptionsError,
  type Driver,
  type DriverError,
  type DriverOutput,
  type DriverValue,
} from '../../../drivers/driver.js';
import { createDriver, type DriverConfig } from '../../../drivers/index.js';
import type { ComponentHealth, Source, SourceContext } from '../../components.js';
import { SluiceError, errorMessage } from '../../errors.js';
import { RateLimitedLog } from '../../observe/log.js';
import type { Reading, ReadingValue } from '../../reading.js';
import { IngestBatcher } from '../ingest-batcher.js';
import type { SerialConfig } from './schema.js';
import { PortLink } from './port.js';

/** Per-port counters, since the source started. */
export interface SerialPortStats {
  readonly path: string;
  readonly connected: boolean;
  /** Bytes read from the port. */
  readonly bytes: number;
  /** Valid frames (lines, sentences, answers) the driver decoded. */
  readonly frames: number;
  /** Driver rejections: bad checksums, truncated or overlong frames, Modbus timeouts and exceptions. */
  readonly bad_frames: number;
  /** Readings durably appended. */
  readonly readings: number;
  /** Opens after the first one. */
  readonly reconnects: number;
  readonly disconnects: number;
  /** Readings dropped because `max_pending_readings` were already waiting for the queue. */
  readonly dropped_overflow: number;
  /** Readings refused by a full queue (`on_full: reject_new`). */
  readonly dropped_queue_full: number;
  /** Readings lost to another append error (disk). */
  readonly dropped_ingest_error: number;
  /** Readings waiting for the append in flight (at most `max_pending_readings`). */
  readonly pending: number;
  /** Readings of the append in flight. */
  readonly appending: number;
}

export interface SerialHealth extends ComponentHealth {
  readonly port: SerialPortStats;
}

/**
 * Drivers keep their own value type (they import nothing of the gateway); a driver's reading becomes a Reading
 * here, so the two must stay one type. Checked both ways: neither may widen alone.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _driverValueIsReadingValue: Same<DriverValue, ReadingValue> = true;

/** A driver built from its options; options it refuses are the gateway's config error, worded as before. */
function buildDriver(config: DriverConfig): Driver {
  try {
    return createDriver(config);
  } catch (err) {
    if (!(err instanceof DriverOptionsError)) throw err;
    throw new SluiceError('SLUICE_CONFIG_INVALID', err.message, {
      hint: `fix the options of the ${err.driver} driver`,
      cause: err,
    });
  }
}

/** Most readings per append: a backlog after a slow commit goes to the queue as several appends. */
export const MAX_APPEND_READINGS = 1000;

type Counters = {
  -readonly [K in Exclude<keyof SerialPortStats, 'path' | 'connected' | 'pending' | 'appending'>]: number;
};

export class SerialSource implements Source {
  readonly type = 'serial';
  private readonly driver: Driver;
  private readonly link: PortLink;
  private readonly device: string;
  private ctx: SourceContext | undefined;
  private limited: RateLimitedLog | undefined;
  private batcher: IngestBatcher | undefined;
  private stepTimer: NodeJS.Timeout | undefined;
  private everOpened = false;
  private closed = false;
  private readonly counters: Counters = {
    bytes: 0,
    frames: 0,
    bad_frames: 0,
    readings: 0,
    reconnects: 0,
    disconnects: 0,
    dropped_overflow: 0,
    dropped_queue_full: 0,
    dropped_ingest_error: 0,
  };
  private state: ComponentHealth['state'] = 'starting';
  private detail: string | undefined;
  private lastError: ComponentHealth['lastError'];
  private lastSuccessAt: number | undefined;

  constructor(
    readonly name: string,
    private readonly config: SerialConfig,
  ) {
    this.device = config.device ?? name;
    this.driver = buildDriver(config.driver);
    this.link = new PortLink(
      {
        path: config.path,
        baudRate: config.baud_rate,
        dataBits: config.data_bits,
        parity: config.parity,
        stopBits: config.stop_bits,
        flowControl: config.flow_control,
      },
      {
        checkIntervalMs: config.check_interval_ms,
        reopen: { initial_ms: config.reopen_initial_ms, max_ms: config.reopen_max_ms, multiplier: 2 },
      },
      {
        opened: () => this.opened(),
        data: (chunk) => this.data(chunk),
        lost: (reason) => this.lost(reason),
        openFailed: (err, missing, retryInMs) => this.openFailed(err, missing, retryInMs),
        error: (stage, err) => this.portError(stage, err),
      },
    );
  }

  async start(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    this.limited = new RateLimitedLog(ctx.log);
    this.batcher = new IngestBatcher(
      (readings, options) => ctx.ingest(readings, options),
      {
        gather: 'idle',
        split: { kind: 'chunks', maxReadings: MAX_APPEND_READINGS },
        maxPending: this.config.max_pending_readings,
      },
      {
        appended: (n) => {
          this.counters.readings += n;
          this.lastSuccessAt = Date.now();
          if (this.link.isOpen) this.setState('healthy', `${this.config.path} open`);
        },
        failed: (n, err) => this.ingestFailed(n, err),
        overflowed: (n) => {
          this.counters.dropped_overflow += n;
          ctx.metrics.discarded(n, 'overflow');
          this.limited?.warn(
            'overflow',
            { dropped: n },
            'readings dropped: the queue is slower than the port',
          );
        },
      },
    );
    await this.link.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.stepTimer);
    await this.link.stop();
    await this.batcher?.drain();
    this.setState('stopped', undefined);
  }

  health(): SerialHealth {
    return {
      state: this.state,
      ...(this.detail !== undefined && { detail: this.detail }),
      ...(this.lastError !== undefined && { lastError: this.lastError }),
      ...(this.lastSuccessAt !== undefined && { lastSuccessAt: this.lastSuccessAt }),
      port: this.stats(),
    };
  }

  stats(): SerialPortStats {
    return {
      path: this.config.path,
      connected: this.link.isOpen,
      ...this.counters,
      pending: this.batcher?.pendingCount ?? 0,
      appending: this.batcher?.appendingCount ?? 0,
    };
  }

  /** The last error is kept after recovery: health says what went wrong last, and when. */
  private setState(
    state: ComponentHealth['state'],
    detail: string | undefined,
    error?: { readonly code: string; readonly message: string },
  ): void {
    this.state = state;
    this.detail = detail;
    if (error !== undefined) this.lastError = { ...error, at: Date.now() };
  }

  private opened(): void {
    if (this.everOpened) this.counters.reconnects++;
    this.everOpened = true;
    this.driver.reset();
    this.setState('healthy', `${this.config.path} open`);
    this.ctx?.log.info({ path: this.config.path, reconnects: this.counters.reconnects }, 'serial port open');
    this.poll([], 0);
  }

  private data(chunk: Buffer): void {
    if (this.closed) return;
    const receivedAt = Date.now();
    this.counters.bytes += chunk.length;
    const readings: Reading[] = [];
    this.collect(this.driver.push(chunk, performance.now()), receivedAt, readings);
    this.poll(readings, chunk.length);
  }

  /**
   * Runs a polling driver's step (at open, after each read, when its wake-up time comes), writes what it
   * asks for, then appends `readings` plus the step's own as one batch.
   */
  private poll(readings: Reading[], bytes: number): void {
    if (this.driver.step !== undefined && !this.closed && this.link.isOpen) {
      clearTimeout(this.stepTimer);
      this.stepTimer = undefined;
      const out = this.driver.step(performance.now());
      this.collect(out, Date.now(), readings);
      if (out.write !== undefined && out.write.length > 0) this.link.write(out.write);
      if (out.wakeInMs !== undefined) {
        this.stepTimer = setTimeout(() => this.poll([], 0), Math.max(0, out.wakeInMs));
      }
    }
    // The metrics spec: received = taken in from outside (bytes read, readings decoded); the gateway's
    // ingest counts `sent` once they are on disk.
    if (readings.length > 0 || bytes > 0) this.ctx?.metrics.received(readings.length, bytes);
    this.batcher?.add(readings);
  }

  private collect(out: DriverOutput, receivedAt: number, into: Reading[]): void {
    this.counters.frames += out.frames;
    for (const e of out.errors) this.rejected(e);
    for (const r of out.readings) {
      into.push({
        device: r.device ?? this.device,
        metric: r.metric,
        value: r.value,
        ts: r.ts ?? receivedAt,
        source: this.name,
        ...(r.unit !== undefined && { unit: r.unit }),
        ...(r.tags !== undefined && { tags: r.tags }),
      });
    }
  }

  private rejected(e: DriverError): void {
    this.counters.bad_frames++;
    this.ctx?.reject(e.reason, e.device ?? this.device, e.detail);
  }

  private lost(reason: string): void {
    this.counters.disconnects++;
    clearTimeout(this.stepTimer);
    this.stepTimer = undefined;
    // A half-read frame from before the unplug must not be glued to the first bytes after the replug.
    this.driver.reset();
    this.ctx?.metrics.error('port', 'disconnected');
    const message = `${this.config.path}: ${reason}`;
    this.setState('degraded', `${message}; reopening`, { code: 'SLUICE_SOURCE_IO', message });
    this.ctx?.log.warn({ path: this.config.path, reason }, 'serial port lost; reopening when it comes back');
  }

  private openFailed(err: unknown, missing: boolean, retryInMs: number): void {
    const message = missing
      ? `${this.config.path} does not exist (adapter unplugged?)`
      : `cannot open ${this.config.path}: ${errorMessage(err)}`;
    this.setState(this.everOpened ? 'degraded' : 'unhealthy', `${message}; next try in ${retryInMs} ms`, {
      code: 'SLUICE_SOURCE_IO',
      message,
    });
    if (!missing) this.ctx?.metrics.error('open', (err as NodeJS.ErrnoException | undefined)?.code ?? 'open');
    this.limited?.warn(
      missing ? 'missing' : 'open',
      { path: this.config.path, retry_in_ms: retryInMs },
      message,
    );
  }

  private portError(stage: 'write' | 'close', err: unknown): void {
    this.ctx?.metrics.error(stage, (err as NodeJS.ErrnoException | undefined)?.code ?? stage);
    this.limited?.warn(
      stage,
      { path: this.config.path, err: errorMessage(err) },
      `serial port ${stage} failed`,
    );
  }

  private ingestFailed(n: number, e: SluiceError): void {
    const full = e.code === 'SLUICE_QUEUE_FULL';
    if (full) this.counters.dropped_queue_full += n;
    else this.counters.dropped_ingest_error += n;
    this.ctx?.metrics.error('ingest', e.code);
    this.ctx?.metrics.discarded(n, full ? 'queue_full' : 'ingest_error');
    const message = full
      ? 'queue full (on_full: reject_new): serial readings dropped, the sensor cannot be asked to resend'
      : `serial readings not queued: ${errorMessage(e)}`;
    this.setState('degraded', message, { code: e.code, message });
    this.limited?.warn(e.code, { dropped: n, err: errorMessage(e) }, message);
  }
}
