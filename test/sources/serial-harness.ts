// Runs a `serial` source in-process against a socat pty pair and a real durable queue in a temp dir, with a
// simulated device on the other end; records what the source reports so that tests can assert on it.
import { readdirSync } from 'node:fs';
import { SerialPort } from 'serialport';
import type { z } from 'zod';
import type { SourceContext } from '../../gateway/components.js';
import { silentLogger } from '../../gateway/observe/log.js';
import type { ComponentMetrics } from '../../gateway/metrics-spec.js';
import { Queue, type OnFull } from '../../gateway/queue/queue.js';
import type { QueuedReading } from '../../gateway/reading.js';
import { SerialSource, schema } from '../../gateway/sources/serial/index.js';
import { codec } from '../../drivers/modbus-rtu/index.js';
import type { SimSlave } from '../drivers/modbus-slave.js';
import { tempDir } from '../helpers/tmp.js';
import { PtyPair } from '../peers/socat.js';

export type SerialInput = Omit<z.input<typeof schema>, 'type' | 'path'>;

export interface HarnessOptions {
  readonly maxBytes?: number;
  readonly onFull?: OnFull;
  /** Replaces the queue append (to slow it down or fail it). */
  readonly ingest?: (next: SourceContext['ingest']) => SourceContext['ingest'];
  /** Runs once the pty pair exists, before the source opens it (e.g. to attach a simulated bus). */
  readonly beforeStart?: (pair: PtyPair) => Promise<void>;
}

export class SerialHarness {
  readonly rejections: Array<{ reason: string; device: string | undefined }> = [];
  readonly discarded = new Map<string, number>();
  readonly errors: Array<{ stage: string; kind: string }> = [];
  bytesReceived = 0;

  private constructor(
    private readonly ownPair: PtyPair | undefined,
    readonly queue: Queue,
    readonly source: SerialSource,
  ) {}

  /** The pty pair the source reads (when the harness made one). */
  get pair(): PtyPair {
    if (this.ownPair === undefined)
      throw new Error('this harness reads a path it was given, not its own pty pair');
    return this.ownPair;
  }

  /** Starts socat and a source on its `dev` end. */
  static async start(input: SerialInput, options: HarnessOptions = {}): Promise<SerialHarness> {
    const pair = await PtyPair.start(tempDir('sluice-serial-'));
    await options.beforeStart?.(pair);
    return SerialHarness.startOn(pair.devPath, input, options, pair);
  }

  /** Starts a source on `path`; `pair`, if given, is stopped by close(). */
  static async startOn(
    path: string,
    input: SerialInput,
    options: HarnessOptions = {},
    pair?: PtyPair,
  ): Promise<SerialHarness> {
    const queue = Queue.open({
      dir: tempDir('sluice-serial-queue-'),
      maxBytes: options.maxBytes ?? 64 * 1024 * 1024,
      onFull: options.onFull ?? 'drop_oldest',
    });
    const config = schema.parse({ type: 'serial', path, ...input });
    const h = new SerialHarness(pair, queue, new SerialSource('port1', config));
    const metrics: ComponentMetrics = {
      received: (_events, bytes) => (h.bytesReceived += bytes),
      sent: () => undefined,
      error: (stage, kind) => h.errors.push({ stage, kind }),
      discarded: (n, reason) => h.discarded.set(reason, (h.discarded.get(reason) ?? 0) + n),
    };
    const append: SourceContext['ingest'] = (r) => queue.append(r);
    await h.source.start({
      gatewayId: 'gw-test',
      log: silentLogger,
      metrics,
      ingest: options.ingest ? options.ingest(append) : append,
      reject: (reason, device) => h.rejections.push({ reason, device }),
    });
    return h;
  }

  readings(): QueuedReading[] {
    return this.queue.readSized(0, 1_000_000).readings;
  }

  /** True once everything read has been appended or counted as dropped. */
  settled(): boolean {
    const s = this.source.stats();
    return s.pending === 0 && s.appending === 0;
  }

  /** Source counters plus what the harness recorded, for timeout messages. */
  state(): unknown {
    return {
      stats: this.source.stats(),
      reasons: this.reasons(),
      errors: this.errors,
      discarded: [...this.discarded],
    };
  }

  reasons(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.rejections) out[r.reason] = (out[r.reason] ?? 0) + 1;
    return out;
  }

  async close(): Promise<void> {
    await this.source.close();
    await this.queue.close();
    await this.ownPair?.stop();
  }
}

/** How the serial tests wait (with until from helpers/wait): 5 s, polled every 5 ms, since a reopen is timed in ms. */
export const serialWait = { timeoutMs: 5000, intervalMs: 5 } as const;

export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** The simulated device: the other end of the pty pair, opened like any serial port. */
export class SimDevice {
  /** Errors the simulated device's port reported (a test may assert there are none). */
  readonly errors: Error[] = [];

  private constructor(readonly port: SerialPort) {}

  static async open(path: string, onData?: (chunk: Buffer, dev: SimDevice) => void): Promise<SimDevice> {
    const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
    const dev = new SimDevice(port);
    if (onData) port.on('data', (chunk: Buffer) => onData(chunk, dev));
    port.on('error', (err) => dev.errors.push(err));
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    return dev;
  }

  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.write(typeof data === 'string' ? data : Buffer.from(data), (err) => {
        if (err) reject(err);
        else this.port.drain((e) => (e ? reject(e) : resolve()));
      });
    });
  }

  close(): Promise<void> {
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve, reject) => this.port.close((err) => (err ? reject(err) : resolve())));
  }
}

/**
 * A Modbus RTU slave bus on the sim end: read requests are 8 bytes (Modbus over Serial Line V1.02 §2.5.1,
 * functions 1-4), answered by the simulated slaves `delayMs` after the request was read: by default its
 * wire time plus a 3 ms turnaround, 0 for a slave that answers at once (USB CDC-ACM, a serial-to-TCP gateway).
 */
export async function modbusBus(
  path: string,
  slaves: readonly SimSlave[],
  charMs: number,
  delayMs = 8 * charMs + 3,
): Promise<SimDevice> {
  let buf = Buffer.alloc(0);
  return SimDevice.open(path, (chunk, dev) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const frame = Uint8Array.from(buf.subarray(0, 8));
      buf = buf.subarray(8);
      if (!codec.decodeReadRequest(frame).ok) {
        buf = Buffer.alloc(0); // out of step: a real slave waits for the next 3.5 character silence
        break;
      }
      for (const slave of slaves) {
        const answer = slave.answer(frame);
        if (answer === undefined) continue;
        // A write failing as the pty goes away at the end of a test is kept in dev.errors, not unhandled.
        const write = (): void => void dev.write(answer).catch((err: Error) => dev.errors.push(err));
        if (delayMs === 0) write();
        else setTimeout(write, delayMs);
      }
    }
  });
}
