// A Modbus RTU slave simulator and a simulated bus for end-to-end tests of the master. The slave is built
// from the driver's own codec (request in, response out); the bus carries bytes with their wire times.
import { codec } from '../../drivers/modbus-rtu/index.js';
import type { Driver, DriverError, DriverReading } from '../../drivers/driver.js';

export interface SlaveTables {
  readonly coils?: Readonly<Record<number, boolean>>;
  readonly discrete?: Readonly<Record<number, boolean>>;
  readonly holding?: Readonly<Record<number, number>>;
  readonly input?: Readonly<Record<number, number>>;
}

/** How the slave misbehaves, per request; `undefined` answers correctly. */
export type Fault = 'silent' | 'bad_crc' | { readonly exception: number } | { readonly noise: Uint8Array };

export class SimSlave {
  /** Requests this slave received and decoded, in order. */
  readonly received: codec.ReadRequest[] = [];
  fault: ((request: codec.ReadRequest) => Fault | undefined) | undefined;

  constructor(
    readonly address: number,
    private readonly tables: SlaveTables,
  ) {}

  /** The frame this slave puts on the bus for `frame`, if any (Modbus over Serial Line V1.02 §2.4.1). */
  answer(frame: Uint8Array): Uint8Array | undefined {
    const decoded = codec.decodeReadRequest(frame);
    if (!decoded.ok || decoded.value.slave !== this.address) return undefined;
    const request = decoded.value;
    this.received.push(request);
    const fault = this.fault?.(request);
    if (fault === 'silent') return undefined;
    if (typeof fault === 'object' && 'exception' in fault) {
      return codec.encodeExceptionResponse(this.address, request.fc, fault.exception);
    }
    const response = this.respond(request);
    if (fault === 'bad_crc') {
      const last = response.length - 1;
      response[last] = (response[last] ?? 0) ^ 0xff;
    }
    if (typeof fault === 'object' && 'noise' in fault) return Uint8Array.from([...fault.noise, ...response]);
    return response;
  }

  private respond(r: codec.ReadRequest): Uint8Array {
    const addresses = Array.from({ length: r.quantity }, (_, i) => r.address + i);
    if (r.fc === 1 || r.fc === 2) {
      const table = r.fc === 1 ? this.tables.coils : this.tables.discrete;
      if (table === undefined || addresses.some((a) => table[a] === undefined)) {
        return codec.encodeExceptionResponse(this.address, r.fc, 0x02); // ILLEGAL DATA ADDRESS
      }
      return codec.encodeBitsResponse(
        this.address,
        r.fc,
        addresses.map((a) => table[a] === true),
      );
    }
    const table = r.fc === 3 ? this.tables.holding : this.tables.input;
    if (table === undefined || addresses.some((a) => table[a] === undefined)) {
      return codec.encodeExceptionResponse(this.address, r.fc, 0x02);
    }
    return codec.encodeRegistersResponse(
      this.address,
      r.fc,
      addresses.map((a) => table[a] ?? 0),
    );
  }
}

export interface BusOptions {
  /** ms per character on the wire (11 bits at 9600 baud: 1.1458 ms). */
  readonly charMs: number;
  /** Slave's processing time between the end of the request and its first answer byte (0 allowed). */
  readonly turnaroundMs?: number;
  /** Deliver answers one byte per push at each byte's wire time (else one chunk at the last byte). */
  readonly bytewise?: boolean;
  /**
   * A virtual port (a pty, USB CDC-ACM, a serial-to-TCP gateway): the request reaches the slave the moment
   * it is written and the answer comes back whole, so it can arrive before the request's wire time at the
   * configured baud rate has passed.
   */
  readonly virtual?: boolean;
}

export interface BusLog {
  readonly writes: { readonly at: number; readonly frame: Uint8Array }[];
  /** Wire time of the last byte of each delivered answer. */
  readonly answers: { readonly at: number; readonly bytes: number }[];
  readonly readings: (DriverReading & { readonly at: number })[];
  readonly errors: DriverError[];
  frames: number;
}

/** Runs `driver` against `slaves` on one simulated bus until `untilMs`, like a serial source would. */
export function runBus(
  driver: Driver,
  slaves: readonly SimSlave[],
  untilMs: number,
  opts: BusOptions,
): BusLog {
  const log: BusLog = { writes: [], answers: [], readings: [], errors: [], frames: 0 };
  const deliveries: { at: number; bytes: Uint8Array }[] = [];
  let wakeAt = Infinity;
  const collect = (now: number, out: ReturnType<Driver['push']>): void => {
    log.readings.push(...out.readings.map((r) => ({ ...r, at: now })));
    log.errors.push(...out.errors);
    log.frames += out.frames;
  };
  const step = (now: number): void => {
    const out = driver.step?.(now);
    if (out === undefined) throw new Error('not a polling driver');
    collect(now, out);
    wakeAt = out.wakeInMs === undefined ? Infinity : now + out.wakeInMs;
    if (out.write === undefined) return;
    log.writes.push({ at: now, frame: out.write });
    const requestEnd = now + out.write.length * opts.charMs;
    for (const slave of slaves) {
      const answer = slave.answer(out.write);
      if (answer === undefined) continue;
      if (opts.virtual) {
        const at = now + (opts.turnaroundMs ?? 0);
        log.answers.push({ at, bytes: answer.length });
        deliveries.push({ at, bytes: answer });
        continue;
      }
      const start = requestEnd + (opts.turnaroundMs ?? 2);
      log.answers.push({ at: start + answer.length * opts.charMs, bytes: answer.length });
      if (opts.bytewise) {
        answer.forEach((b, i) =>
          deliveries.push({ at: start + (i + 1) * opts.charMs, bytes: Uint8Array.of(b) }),
        );
      } else deliveries.push({ at: start + answer.length * opts.charMs, bytes: answer });
    }
  };
  step(0);
  for (let guard = 0; guard < 1_000_000; guard++) {
    deliveries.sort((a, b) => a.at - b.at);
    const next = deliveries[0];
    const now = Math.min(wakeAt, next?.at ?? Infinity);
    if (now > untilMs) break;
    if (next !== undefined && next.at === now) {
      deliveries.shift();
      collect(now, driver.push(next.bytes, now));
    }
    step(now);
  }
  return log;
}
