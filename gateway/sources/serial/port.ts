// Keeps one serial port open across unplug and replug: opens it, watches that the device node is still the
// one opened, closes it when it is gone (never leaving its file descriptor behind) and reopens it when the
// path comes back, with jittered backoff between failed opens.
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import { errorMessage } from '../../errors.js';
import { backoffDelay, type BackoffOptions } from '../../runtime/retry.js';

export interface LineSettings {
  readonly path: string;
  readonly baudRate: number;
  readonly dataBits: 5 | 6 | 7 | 8;
  readonly parity: 'none' | 'even' | 'odd';
  readonly stopBits: 1 | 2;
  readonly flowControl: 'none' | 'rtscts' | 'xonxoff';
}

export interface PortTiming {
  readonly checkIntervalMs: number;
  readonly reopen: BackoffOptions;
}

/** What the link reports to its owner; every callback runs on the event loop, never re-entrantly. */
export interface PortListener {
  opened(): void;
  data(chunk: Buffer): void;
  /** The port was open and is not any more (unplugged, node replaced, read error); a reopen is scheduled. */
  lost(reason: string): void;
  /** An open failed; the next attempt is in `retryInMs`. `missing`: the path does not exist (yet). */
  openFailed(err: unknown, missing: boolean, retryInMs: number): void;
  /** An error that does not by itself close the port (a failed write, a failed close of a dead port). */
  error(stage: 'write' | 'close', err: unknown): void;
}

/**
 * Identity of a device node: a replugged adapter gets a new node (new inode on devtmpfs) even when the
 * kernel reuses its name, so a path that names another node than the one opened means the port is gone.
 */
function identity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.rdev}`;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENODEV' || code === 'ENXIO';
}

export class PortLink {
  private port: SerialPort | undefined;
  private openedIdentity = '';
  private checkTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private attempt: Promise<void> | undefined;
  /** Closes of lost ports still running: stop() waits for them, so no descriptor outlives the source. */
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly settings: LineSettings,
    private readonly timing: PortTiming,
    private readonly listener: PortListener,
  ) {}

  /** Open and not known lost; flips in the same tick as the `opened` and `lost` callbacks. */
  get isOpen(): boolean {
    return this.port !== undefined;
  }

  /** Makes the first attempt and resolves after it, open or not: a missing adapter is retried in the background. */
  start(): Promise<void> {
    this.attempt = this.tryOpen();
    return this.attempt;
  }

  /** Writes bytes if the port is open; returns false (nothing written) when it is not. */
  write(bytes: Uint8Array): boolean {
    const port = this.port;
    if (port === undefined || !port.isOpen) return false;
    port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (err) => {
      if (err) this.listener.error('write', err);
    });
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.checkTimer);
    await this.attempt;
    const port = this.port;
    this.port = undefined;
    if (port !== undefined) this.release(port);
    await Promise.all(this.closing);
  }

  private async tryOpen(): Promise<void> {
    if (this.stopped) return;
    const { path } = this.settings;
    try {
      await stat(path);
    } catch (err) {
      // Nothing to open yet: look again at the check interval, without growing a backoff for it.
      this.listener.openFailed(err, isMissing(err), this.timing.checkIntervalMs);
      this.schedule(this.timing.checkIntervalMs);
      return;
    }
    const port = this.create();
    try {
      await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
      // The identity is taken after the open, so that it is the node actually opened.
      this.openedIdentity = identity(await stat(path));
    } catch (err) {
      if (port.isOpen) this.release(port);
      const delay = backoffDelay(this.failures++, this.timing.reopen);
      this.listener.openFailed(err, isMissing(err), delay);
      this.schedule(delay);
      return;
    }
    if (this.stopped) {
      this.release(port);
      return;
    }
    this.failures = 0;
    this.port = port;
    this.checkTimer = setInterval(() => void this.check(), this.timing.checkIntervalMs);
    this.listener.opened();
  }

  private create(): SerialPort {
    const s = this.settings;
    const port = new SerialPort({
      path: s.path,
      baudRate: s.baudRate,
      dataBits: s.dataBits,
      parity: s.parity,
      stopBits: s.stopBits,
      rtscts: s.flowControl === 'rtscts',
      xon: s.flowControl === 'xonxoff',
      xoff: s.flowControl === 'xonxoff',
      autoOpen: false,
      // Exclusive (TIOCEXCL): two readers of one port would each get half of the bytes.
      lock: true,
    });
    port.on('data', (chunk: Buffer) => {
      if (port === this.port) this.listener.data(chunk);
    });
    // serialport emits `close` with a DisconnectedError when a read or write fails (unplug, EIO).
    port.on('close', (err: Error | null) => {
      if (port === this.port) this.lose(err ? `port closed: ${err.message}` : 'port closed');
    });
    port.on('error', (err: Error) => {
      if (port === this.port) this.lose(`port error: ${err.message}`);
      else this.listener.error('close', err);
    });
    return port;
  }

  /** The periodic check: the path still exists and still names the node that was opened. */
  private async check(): Promise<void> {
    const port = this.port;
    if (port === undefined) return;
    let reason: string | undefined;
    try {
      const now = identity(await stat(this.settings.path));
      if (now !== this.openedIdentity) reason = 'path now names another device node (replugged)';
    } catch (err) {
      reason = isMissing(err) ? 'device node gone (unplugged)' : `cannot stat path: ${errorMessage(err)}`;
    }
    if (reason !== undefined && port === this.port) this.lose(reason);
  }

  private lose(reason: string): void {
    const port = this.port;
    if (port === undefined) return;
    this.port = undefined;
    clearInterval(this.checkTimer);
    this.release(port);
    this.listener.lost(reason);
    this.schedule(backoffDelay(0, this.timing.reopen));
  }

  /** Closes a port we no longer use, if serialport has not already done so; its listeners stay attached. */
  private release(port: SerialPort): void {
    if (!port.isOpen) return;
    const done = new Promise<void>((resolve) => {
      port.close((err) => {
        // A node that vanished may fail to close cleanly; the descriptor is released by the kernel anyway.
        if (err) this.listener.error('close', err);
        resolve();
      });
    });
    this.closing.add(done);
    void done.then(() => this.closing.delete(done));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.attempt = this.tryOpen();
    }, delayMs);
  }
}
