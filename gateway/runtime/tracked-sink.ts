// A sink wrapper that remembers the last error its connect/write/flush threw, so that the fleet health gate
// can tell "retrying because upstream is down" from "failing because of its config" (ENOTDIR, bad auth).
import type { ComponentHealth, Sink, SinkProgress } from '../components.js';
import { errorMessage, isSluiceError } from '../errors.js';
import type { QueuedReading } from '../reading.js';

export interface LastSinkError {
  readonly code: string;
  readonly message: string;
  readonly retriable: boolean;
  readonly at: number;
}

export class TrackedSink implements Sink {
  lastError: LastSinkError | undefined;

  constructor(private readonly inner: Sink) {}

  get type(): string {
    return this.inner.type;
  }

  get name(): string {
    return this.inner.name;
  }

  connect(): Promise<void> {
    return this.track(this.inner.connect());
  }

  write(batch: readonly QueuedReading[]): Promise<SinkProgress> {
    return this.track(this.inner.write(batch));
  }

  flush(reason: 'idle' | 'shutdown'): Promise<SinkProgress> {
    return this.track(this.inner.flush(reason));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  health(): ComponentHealth {
    return this.inner.health();
  }

  private async track<T>(p: Promise<T>): Promise<T> {
    try {
      const value = await p;
      this.lastError = undefined;
      return value;
    } catch (err) {
      const code = isSluiceError(err)
        ? err.code
        : ((err as NodeJS.ErrnoException | undefined)?.code ?? 'SLUICE_SINK_WRITE');
      const retriable = isSluiceError(err) && err.retriable;
      this.lastError = { code, message: errorMessage(err), retriable, at: Date.now() };
      throw err;
    }
  }
}
