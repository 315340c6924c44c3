// The Modbus RTU master as a pure state machine: `step(now)` says what to write and when to wake, `push`
// takes the slave's answer. One request in flight on the bus at a time (Modbus over Serial Line V1.02 §2.1).
// `now` must come from a monotonic clock (performance.now()): every deadline and silence is computed from it.
import type { DriverError, DriverOutput, DriverReading, DriverStep } from '../driver.js';
import {
  MAX_FRAME_BYTES,
  decodeReadResponse,
  encodeReadRequest,
  expectedByteCount,
  responseFrameLength,
} from './codec.js';
import type { ReadRequest, ReadResponse } from './codec.js';
import type { Poll } from './plan.js';
import { decodeRegisters, wordCount } from './values.js';

export interface MasterTiming {
  readonly charMs: number;
  readonly interFrameMs: number;
  readonly responseTimeoutMs: number;
}

interface InFlight {
  readonly poll: number;
  /** Response time-out, counted from the estimated end of the request's wire time. */
  readonly deadline: number;
  readonly rx: Uint8Array;
  rxLen: number;
}

/** A request that timed out: its slave may still answer it (RTU frames carry no transaction id). */
interface TimedOut {
  readonly request: ReadRequest;
  /** Until then a request its late answer would fit is not sent. */
  readonly quietUntil: number;
}

interface Out {
  readings: DriverReading[];
  errors: DriverError[];
  frames: number;
}

export class ModbusMaster {
  private readonly due: number[];
  private inFlight: InFlight | undefined;
  private timedOut: TimedOut | undefined;
  /** When the last byte was on the bus, sent or received: the 3.5 character silence counts from it. */
  private lastByteAt = -Infinity;
  private started = false;

  constructor(
    private readonly polls: readonly Poll[],
    private readonly timing: MasterTiming,
  ) {
    this.due = polls.map(() => 0);
  }

  step(now: number): DriverStep {
    const out: Out = { readings: [], errors: [], frames: 0 };
    if (!this.started) {
      this.started = true;
      this.due.fill(now);
    }
    const flight = this.inFlight;
    if (flight !== undefined) {
      if (now < flight.deadline) return { ...out, wakeInMs: flight.deadline - now };
      // Modbus over Serial Line V1.02 §2.4.1: no (complete) answer within the response time-out.
      const got = flight.rxLen === 0 ? 'no answer' : `${flight.rxLen} bytes of an answer`;
      this.fail(out, flight.poll, 'timeout', `${got} within ${this.timing.responseTimeoutMs} ms`);
      this.inFlight = undefined;
      const request = this.polls[flight.poll]?.request;
      if (request !== undefined) {
        const quietUntil = flight.deadline + this.timing.responseTimeoutMs;
        this.timedOut = { request, quietUntil };
      }
    }
    const next = this.nextPoll();
    if (next === undefined) return out;
    const poll = this.polls[next];
    const due = this.due[next] ?? now;
    // Modbus over Serial Line V1.02 §2.5.1.1 (3.5 char silent interval): no frame before the line is quiet.
    const sendAt = Math.max(due, this.lastByteAt + this.timing.interFrameMs, this.lateAnswerGuard(poll));
    if (poll === undefined || sendAt > now) return { ...out, wakeInMs: sendAt - now };

    const frame = encodeReadRequest(poll.request);
    // Only an estimate: a pty, a USB CDC-ACM device or a serial-to-TCP gateway takes the request at once
    // and may answer before this, so it paces the bus and starts the time-out but gates no answer.
    const txEnd = now + frame.length * this.timing.charMs;
    this.lastByteAt = txEnd;
    this.inFlight = {
      poll: next,
      deadline: txEnd + this.timing.responseTimeoutMs,
      rx: new Uint8Array(MAX_FRAME_BYTES),
      rxLen: 0,
    };
    // Missed polls are not made up in a burst: a slow bus polls each map as often as it can, in turn.
    this.due[next] = Math.max(due + poll.intervalMs, now);
    return { ...out, write: frame, wakeInMs: txEnd + this.timing.responseTimeoutMs - now };
  }

  push(chunk: Uint8Array, now: number): DriverOutput {
    const out: Out = { readings: [], errors: [], frames: 0 };
    if (chunk.length === 0) return out;
    this.lastByteAt = Math.max(this.lastByteAt, now);
    const flight = this.inFlight;
    // Bytes read after the request was written may be its answer, however soon: on a virtual port the
    // answer can be back before the request's estimated wire time has passed.
    if (flight === undefined) {
      // Noise, or a late answer to a request that already timed out.
      const detail = `${chunk.length} bytes with no request awaiting them`;
      out.errors.push({ reason: 'unexpected_data', detail });
      return out;
    }
    let skipped = 0;
    for (const byte of chunk) {
      if (this.inFlight === undefined) {
        skipped++; // bytes after the answer: noise, or a frame this master did not ask for
        continue;
      }
      if (flight.rxLen === flight.rx.length) {
        flight.rx.copyWithin(0, 1, flight.rxLen);
        flight.rxLen--;
        skipped++;
      }
      flight.rx[flight.rxLen++] = byte;
      skipped += this.scan(flight, out);
    }
    if (skipped > 0) {
      out.errors.push({ reason: 'unexpected_data', detail: `${skipped} bytes outside an answer` });
    }
    return out;
  }

  reset(): void {
    this.inFlight = undefined;
    this.timedOut = undefined;
    this.lastByteAt = -Infinity;
  }

  /**
   * After a time-out, the late answer of the request that timed out is told apart from the answer of the
   * next request only when the two frames differ (slave, function or byte count: Modbus over Serial Line
   * V1.02 §2.4.1 gives no other means). A next request whose answer would look the same waits one more
   * response time-out, so that a late answer arrives with nothing in flight and is counted, not taken for
   * the new one (libmodbus's error recovery likewise sleeps one response time-out, then flushes).
   */
  private lateAnswerGuard(poll: Poll | undefined): number {
    const late = this.timedOut;
    if (late === undefined || poll === undefined) return -Infinity;
    const next = poll.request;
    const sameFrame =
      next.slave === late.request.slave &&
      next.fc === late.request.fc &&
      expectedByteCount(next) === expectedByteCount(late.request);
    return sameFrame ? late.quietUntil : -Infinity;
  }

  /** Looks for the answer at the start of the receive buffer; returns how many leading bytes it dropped. */
  private scan(flight: InFlight, out: Out): number {
    const poll = this.polls[flight.poll];
    if (poll === undefined) return 0;
    const { slave, fc } = poll.request;
    let dropped = 0;
    for (;;) {
      const buf = flight.rx.subarray(0, flight.rxLen);
      // Modbus over Serial Line V1.02 §2.4.1: an answer starts with the address of the slave asked, then
      // the function code (or the function code | 0x80 of an exception, Application Protocol §7).
      const aligned =
        buf.length === 0 ||
        (buf[0] === slave && (buf.length === 1 || buf[1] === fc || buf[1] === (fc | 0x80)));
      const length = aligned ? responseFrameLength(buf) : undefined;
      if (!aligned || (length !== undefined && length > MAX_FRAME_BYTES)) {
        flight.rx.copyWithin(0, 1, flight.rxLen);
        flight.rxLen--;
        dropped++;
        continue;
      }
      if (length === undefined || buf.length < length) return dropped;
      this.inFlight = undefined;
      const decoded = decodeReadResponse(buf.subarray(0, length), poll.request);
      if (!decoded.ok) {
        // Modbus over Serial Line V1.02 §2.5.1.2: a frame whose CRC does not match is discarded.
        this.fail(out, flight.poll, decoded.reason, decoded.detail);
        return dropped;
      }
      out.frames++;
      this.answer(out, flight.poll, decoded.value);
      return dropped;
    }
  }

  private answer(out: Out, pollIndex: number, response: ReadResponse): void {
    const poll = this.polls[pollIndex];
    if (poll === undefined) return;
    if (response.kind === 'exception') {
      // Modbus Application Protocol V1.1b3 §7: the slave refused; every register of the request failed.
      this.fail(out, pollIndex, 'exception', `${response.name} (exception code ${response.code})`);
      return;
    }
    for (const reg of poll.registers) {
      let value: number | boolean;
      if (reg.dataType === 'bit') {
        if (response.kind !== 'bits') continue;
        value = response.bits[reg.index] ?? false;
      } else {
        if (response.kind !== 'registers') continue;
        const words = response.registers.slice(reg.index, reg.index + wordCount(reg.dataType));
        const raw = decodeRegisters(words, reg.dataType, reg.wordOrder);
        // Rounded to 15 digits so that scale 0.1 gives 21.5, not 21.500000000000004.
        value =
          reg.scale === 1 && reg.offset === 0 ? raw : Number((raw * reg.scale + reg.offset).toPrecision(15));
        if (!Number.isFinite(value)) {
          out.errors.push({ reason: 'bad_value', device: poll.device, detail: `${reg.metric}: ${value}` });
          continue;
        }
      }
      out.readings.push({
        device: poll.device,
        metric: reg.metric,
        value,
        ...(reg.unit !== undefined && { unit: reg.unit }),
      });
    }
  }

  /** Reports a failed poll once per register it was to read, so each metric's error count is exact. */
  private fail(out: Out, pollIndex: number, reason: string, detail: string): void {
    const poll = this.polls[pollIndex];
    if (poll === undefined) return;
    const { slave, address, quantity } = poll.request;
    const where = `slave ${slave} ${poll.table} ${address}+${quantity}`;
    for (const reg of poll.registers) {
      out.errors.push({ reason, device: poll.device, detail: `${reg.metric} (${where}): ${detail}` });
    }
  }

  /** The most overdue poll (ties go to configuration order). */
  private nextPoll(): number | undefined {
    let best: number | undefined;
    this.due.forEach((due, i) => {
      if (best === undefined || due < (this.due[best] ?? Infinity)) best = i;
    });
    return best;
  }
}
