import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  codec,
  decodeRegisters,
  encodeRegisters,
  bitsPerChar,
  interFrameDelayMs,
} from '../../drivers/modbus-rtu/index.js';
import { REGISTER_TYPES } from '../../drivers/modbus-rtu/values.js';
import { hex } from './helpers.js';

describe('modbus codec: fixtures', () => {
  it('computes the CRC-16 of well-known frames, low byte first', () => {
    expect(codec.encodeReadRequest({ slave: 0x11, fc: 3, address: 0x6b, quantity: 3 })).toEqual(
      hex('11 03 00 6B 00 03 76 87'),
    );
    expect(codec.encodeReadRequest({ slave: 1, fc: 3, address: 0, quantity: 10 })).toEqual(
      hex('01 03 00 00 00 0A C5 CD'),
    );
    expect(codec.encodeReadRequest({ slave: 1, fc: 3, address: 0, quantity: 1 })).toEqual(
      hex('01 03 00 00 00 01 84 0A'),
    );
    expect(codec.crc16(hex('01 03 00 00 00 01'))).toBe(0x0a84);
  });

  it('decodes the §6.3 example answer: registers 108-110 = 555, 0, 100', () => {
    const request = { slave: 0x11, fc: 3, address: 107, quantity: 3 } as const;
    const frame = codec.withCrc([...hex('11 03 06 02 2B 00 00 00 64')]);
    expect(codec.responseFrameLength(frame)).toBe(11);
    expect(codec.decodeReadResponse(frame, request)).toEqual({
      ok: true,
      value: { kind: 'registers', registers: [555, 0, 100] },
    });
  });

  it('decodes the §6.1 example answer: coils 20-38 packed LSB first', () => {
    const request = { slave: 1, fc: 1, address: 19, quantity: 19 } as const;
    const frame = codec.withCrc([...hex('01 01 03 CD 6B 05')]);
    const decoded = codec.decodeReadResponse(frame, request);
    const bits = decoded.ok && decoded.value.kind === 'bits' ? decoded.value.bits : [];
    expect(bits.map(Number).join('')).toBe('1011001111010110101');
    expect(codec.encodeBitsResponse(1, 1, bits)).toEqual(frame);
  });

  it('decodes exception answers with their names (§7)', () => {
    const request = { slave: 10, fc: 4, address: 0, quantity: 2 } as const;
    expect(codec.decodeReadResponse(codec.encodeExceptionResponse(10, 4, 2), request)).toEqual({
      ok: true,
      value: { kind: 'exception', code: 2, name: 'ILLEGAL DATA ADDRESS' },
    });
    expect(codec.exceptionName(0x0b)).toBe('GATEWAY TARGET DEVICE FAILED TO RESPOND');
    expect(codec.exceptionName(0x42)).toBe('UNKNOWN EXCEPTION 0x42');
  });

  it('rejects answers that do not fit the request', () => {
    const request = { slave: 1, fc: 3, address: 0, quantity: 2 } as const;
    const reasons = [
      codec.encodeRegistersResponse(2, 3, [1, 2]),
      codec.encodeRegistersResponse(1, 4, [1, 2]),
      codec.encodeRegistersResponse(1, 3, [1]),
    ].map((f) => {
      const d = codec.decodeReadResponse(f, request);
      return d.ok ? 'ok' : d.reason;
    });
    expect(reasons).toEqual(['bad_response', 'bad_response', 'bad_response']);
    const corrupt = codec.encodeRegistersResponse(1, 3, [1, 2]);
    corrupt[4] = 0x99;
    expect(codec.decodeReadResponse(corrupt, request)).toMatchObject({ ok: false, reason: 'bad_crc' });
  });

  it('decodes 32-bit values in both word orders', () => {
    expect(decodeRegisters([0x41a4, 0x0000], 'float32', 'big')).toBe(20.5);
    expect(decodeRegisters([0x0000, 0x41a4], 'float32', 'little')).toBe(20.5);
    expect(decodeRegisters([0xffff, 0xfffe], 'int32', 'big')).toBe(-2);
    expect(decodeRegisters([0x0001, 0x0002], 'uint32', 'little')).toBe(0x00020001);
    expect(decodeRegisters([0x8000], 'int16', 'big')).toBe(-32768);
    expect(decodeRegisters([0x8000], 'uint16', 'big')).toBe(32768);
  });

  it('computes the 3.5 character silence from the line settings, fixed 1.75 ms above 19200 baud', () => {
    expect(bitsPerChar('even', 1)).toBe(11);
    expect(bitsPerChar('none', 1)).toBe(10);
    expect(interFrameDelayMs(9600, 11)).toBeCloseTo((3.5 * 11 * 1000) / 9600, 12);
    expect(interFrameDelayMs(19200, 11)).toBeCloseTo(2.005, 3);
    expect(interFrameDelayMs(38400, 11)).toBe(1.75);
    expect(interFrameDelayMs(115200, 10)).toBe(1.75);
  });
});

const request = fc.record({
  slave: fc.integer({ min: 1, max: 247 }),
  fc: fc.constantFrom<codec.ReadFunction>(1, 2, 3, 4),
  address: fc.integer({ min: 0, max: 65535 }),
  quantity: fc.integer({ min: 1, max: 125 }),
});

describe('modbus codec: properties', () => {
  it('round-trips every read request through the slave side', () => {
    fc.assert(
      fc.property(request, (r) => {
        expect(codec.decodeReadRequest(codec.encodeReadRequest(r))).toEqual({ ok: true, value: r });
      }),
    );
  });

  it('round-trips random register and bit answers', () => {
    fc.assert(
      fc.property(
        request,
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 125, maxLength: 125 }),
        (r, words) => {
          const bits = words.map((w) => (w & 1) === 1).slice(0, r.quantity);
          const registers = words.slice(0, r.quantity);
          const frame =
            r.fc === 1 || r.fc === 2
              ? codec.encodeBitsResponse(r.slave, r.fc, bits)
              : codec.encodeRegistersResponse(r.slave, r.fc, registers);
          expect(codec.responseFrameLength(frame)).toBe(frame.length);
          const value = r.fc === 1 || r.fc === 2 ? { kind: 'bits', bits } : { kind: 'registers', registers };
          expect(codec.decodeReadResponse(frame, r)).toEqual({ ok: true, value });
        },
      ),
    );
  });

  it('catches any corruption of up to two adjacent bytes by CRC', () => {
    fc.assert(
      fc.property(request, fc.nat(), fc.integer({ min: 1, max: 0xffff }), (r, at, flip) => {
        const frame = codec.encodeReadRequest(r);
        const i = at % (frame.length - 1);
        frame[i] = (frame[i] ?? 0) ^ (flip & 0xff);
        frame[i + 1] = (frame[i + 1] ?? 0) ^ (flip >> 8);
        expect(codec.crcOk(frame)).toBe(false);
      }),
    );
  });

  it('round-trips every register type and word order', () => {
    const cases = fc.oneof(
      ...REGISTER_TYPES.map((type) =>
        fc.record({
          type: fc.constant(type),
          order: fc.constantFrom<'big' | 'little'>('big', 'little'),
          value:
            type === 'float32'
              ? fc.float({ noNaN: true })
              : type === 'int16'
                ? fc.integer({ min: -32768, max: 32767 })
                : type === 'uint16'
                  ? fc.integer({ min: 0, max: 65535 })
                  : type === 'int32'
                    ? fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
                    : fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        }),
      ),
    );
    fc.assert(
      fc.property(cases, ({ type, order, value }) => {
        const words = encodeRegisters(value, type, order);
        expect(words.every((w) => w >= 0 && w <= 0xffff)).toBe(true);
        expect(decodeRegisters(words, type, order)).toBe(value);
      }),
    );
  });
});
