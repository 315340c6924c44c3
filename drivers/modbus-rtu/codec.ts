// Modbus RTU frame codec for the read functions 1-4: both the master's side (request out, response in) and
// the slave's side (request in, response out), so that a test slave and the master share one source of truth.

export type ReadFunction = 1 | 2 | 3 | 4;

export const READ_COILS = 1; // Modbus Application Protocol V1.1b3 §6.1 (0x01 Read Coils)
export const READ_DISCRETE_INPUTS = 2; // Modbus Application Protocol V1.1b3 §6.2 (0x02 Read Discrete Inputs)
export const READ_HOLDING_REGISTERS = 3; // Modbus Application Protocol V1.1b3 §6.3 (0x03 Read Holding Registers)
export const READ_INPUT_REGISTERS = 4; // Modbus Application Protocol V1.1b3 §6.4 (0x04 Read Input Registers)

/** Quantity limits of one read: 2000 bits (§6.1, §6.2), 125 registers (§6.3, §6.4). */
export const MAX_BITS = 2000;
export const MAX_REGISTERS = 125;
/** Modbus over Serial Line V1.02 §2.5.1: an RTU frame is at most 256 bytes. */
export const MAX_FRAME_BYTES = 256;

/** Modbus Application Protocol V1.1b3 §7: exception codes. */
export const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  0x01: 'ILLEGAL FUNCTION',
  0x02: 'ILLEGAL DATA ADDRESS',
  0x03: 'ILLEGAL DATA VALUE',
  0x04: 'SERVER DEVICE FAILURE',
  0x05: 'ACKNOWLEDGE',
  0x06: 'SERVER DEVICE BUSY',
  0x08: 'MEMORY PARITY ERROR',
  0x0a: 'GATEWAY PATH UNAVAILABLE',
  0x0b: 'GATEWAY TARGET DEVICE FAILED TO RESPOND',
};

export function exceptionName(code: number): string {
  return EXCEPTION_NAMES[code] ?? `UNKNOWN EXCEPTION 0x${code.toString(16).padStart(2, '0')}`;
}

export interface ReadRequest {
  readonly slave: number;
  readonly fc: ReadFunction;
  /** Protocol address, 0-based (register 40001 of the old notation is address 0 of function 3). */
  readonly address: number;
  readonly quantity: number;
}

export type ReadResponse =
  | { readonly kind: 'registers'; readonly registers: number[] }
  | { readonly kind: 'bits'; readonly bits: boolean[] }
  | { readonly kind: 'exception'; readonly code: number; readonly name: string };

/** A decoding failure has a stable `reason` (`bad_crc`, `bad_response`, `bad_request`) and a detail. */
export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string; readonly detail: string };

/** Modbus over Serial Line V1.02 §2.5.1.2 and Appendix B: CRC-16, polynomial 0xA001 (reflected 0x8005), init 0xFFFF. */
export function crc16(bytes: Uint8Array, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) {
    crc ^= bytes[i] ?? 0;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Appends the CRC, low byte first (Modbus over Serial Line V1.02 §2.5.1.2). */
export function withCrc(body: readonly number[]): Uint8Array {
  const frame = new Uint8Array(body.length + 2);
  frame.set(body);
  const crc = crc16(frame, body.length);
  frame[body.length] = crc & 0xff;
  frame[body.length + 1] = crc >>> 8;
  return frame;
}

export function crcOk(frame: Uint8Array): boolean {
  if (frame.length < 4) return false;
  const crc = crc16(frame, frame.length - 2);
  return frame[frame.length - 2] === (crc & 0xff) && frame[frame.length - 1] === crc >>> 8;
}

function isReadFunction(fc: number): fc is ReadFunction {
  return fc >= 1 && fc <= 4;
}

function isBitFunction(fc: ReadFunction): boolean {
  return fc === READ_COILS || fc === READ_DISCRETE_INPUTS;
}

/** Bytes of data a successful response to `request` carries (its byte count field). */
export function expectedByteCount(request: Pick<ReadRequest, 'fc' | 'quantity'>): number {
  return isBitFunction(request.fc) ? Math.ceil(request.quantity / 8) : request.quantity * 2;
}

/** Request PDU of §6.1-§6.4: function, starting address (2 bytes), quantity (2 bytes), big-endian. */
export function encodeReadRequest(r: ReadRequest): Uint8Array {
  return withCrc([r.slave, r.fc, r.address >> 8, r.address & 0xff, r.quantity >> 8, r.quantity & 0xff]);
}

/** The slave's side: a complete 8-byte read request, CRC checked. */
export function decodeReadRequest(frame: Uint8Array): Decoded<ReadRequest> {
  if (frame.length !== 8)
    return { ok: false, reason: 'bad_request', detail: `${frame.length} bytes, expected 8` };
  if (!crcOk(frame)) return { ok: false, reason: 'bad_crc', detail: 'CRC does not match' };
  const [slave = 0, fc = 0, aHi = 0, aLo = 0, qHi = 0, qLo = 0] = frame;
  if (!isReadFunction(fc))
    return { ok: false, reason: 'bad_request', detail: `function ${fc} is not a read` };
  return { ok: true, value: { slave, fc, address: (aHi << 8) | aLo, quantity: (qHi << 8) | qLo } };
}

/** §6.3/§6.4 response: byte count, then each register big-endian. */
export function encodeRegistersResponse(slave: number, fc: 3 | 4, registers: readonly number[]): Uint8Array {
  const body = [slave, fc, registers.length * 2];
  for (const r of registers) body.push((r >> 8) & 0xff, r & 0xff);
  return withCrc(body);
}

/** §6.1/§6.2 response: byte count, then bits packed LSB first, the first bit in the low bit of byte 1. */
export function encodeBitsResponse(slave: number, fc: 1 | 2, bits: readonly boolean[]): Uint8Array {
  const bytes = new Array<number>(Math.ceil(bits.length / 8)).fill(0);
  bits.forEach((on, i) => {
    if (on) bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (1 << (i & 7));
  });
  return withCrc([slave, fc, bytes.length, ...bytes]);
}

/** §7: exception response, function code with the high bit set plus the exception code. */
export function encodeExceptionResponse(slave: number, fc: number, code: number): Uint8Array {
  return withCrc([slave, fc | 0x80, code]);
}

/**
 * Length of the response frame at the start of `buf`, from its own header (exception: 5 bytes; read: byte
 * count + 5); undefined until the header is in. Lengths past 256 bytes cannot be RTU frames.
 */
export function responseFrameLength(buf: Uint8Array): number | undefined {
  const fc = buf[1];
  if (fc === undefined) return undefined;
  if (fc & 0x80) return 5;
  const byteCount = buf[2];
  return byteCount === undefined ? undefined : byteCount + 5;
}

/** The master's side: a complete response frame (see responseFrameLength) checked against its request. */
export function decodeReadResponse(frame: Uint8Array, request: ReadRequest): Decoded<ReadResponse> {
  if (!crcOk(frame)) return { ok: false, reason: 'bad_crc', detail: 'CRC does not match' };
  const [slave, fc = 0, third = 0] = frame;
  if (slave !== request.slave)
    return { ok: false, reason: 'bad_response', detail: `answer from slave ${slave}` };
  if (fc === (request.fc | 0x80)) {
    return { ok: true, value: { kind: 'exception', code: third, name: exceptionName(third) } };
  }
  if (fc !== request.fc)
    return { ok: false, reason: 'bad_response', detail: `function ${fc} in answer to ${request.fc}` };
  const expected = expectedByteCount(request);
  if (third !== expected || frame.length !== expected + 5) {
    return { ok: false, reason: 'bad_response', detail: `byte count ${third}, expected ${expected}` };
  }
  const data = frame.subarray(3, 3 + expected);
  if (isBitFunction(request.fc)) {
    const bits: boolean[] = [];
    for (let i = 0; i < request.quantity; i++) bits.push((((data[i >> 3] ?? 0) >> (i & 7)) & 1) === 1);
    return { ok: true, value: { kind: 'bits', bits } };
  }
  const registers: number[] = [];
  for (let i = 0; i < request.quantity; i++)
    registers.push(((data[2 * i] ?? 0) << 8) | (data[2 * i + 1] ?? 0));
  return { ok: true, value: { kind: 'registers', registers } };
}
