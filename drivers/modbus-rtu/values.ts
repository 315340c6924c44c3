// Register contents <-> numbers: 16- and 32-bit integers and IEEE 754 floats, with either word order.
// Modbus Application Protocol V1.1b3 §4.2: each register is big-endian; the order of the two registers of
// a 32-bit value is left to the device, hence `word_order` (big: high word first, the common convention).

export const REGISTER_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];
export type WordOrder = 'big' | 'little';

export function wordCount(type: RegisterType): 1 | 2 {
  return type === 'int16' || type === 'uint16' ? 1 : 2;
}

/** Decodes `wordCount(type)` registers (each 0..65535) into a number. */
export function decodeRegisters(words: readonly number[], type: RegisterType, order: WordOrder): number {
  const view = new DataView(new ArrayBuffer(4));
  if (wordCount(type) === 1) {
    view.setUint16(0, words[0] ?? 0);
    return type === 'int16' ? view.getInt16(0) : view.getUint16(0);
  }
  const [first = 0, second = 0] = words;
  view.setUint16(0, order === 'big' ? first : second);
  view.setUint16(2, order === 'big' ? second : first);
  if (type === 'int32') return view.getInt32(0);
  if (type === 'uint32') return view.getUint32(0);
  return view.getFloat32(0);
}

/** The inverse of decodeRegisters, for slave simulators and tests (integers wrap, floats round to f32). */
export function encodeRegisters(value: number, type: RegisterType, order: WordOrder): number[] {
  const view = new DataView(new ArrayBuffer(4));
  if (wordCount(type) === 1) {
    view.setUint16(0, value & 0xffff);
    return [view.getUint16(0)];
  }
  if (type === 'float32') view.setFloat32(0, value);
  else view.setUint32(0, value >>> 0);
  const high = view.getUint16(0);
  const low = view.getUint16(2);
  return order === 'big' ? [high, low] : [low, high];
}
