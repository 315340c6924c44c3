// Character and silent-interval times of an RTU line, from its baud rate and character format.

/** Bits on the wire per character: start bit, 8 data bits (RTU), parity bit if any, stop bits. */
export function bitsPerChar(parity: 'even' | 'odd' | 'none', stopBits: 1 | 2): number {
  return 1 + 8 + (parity === 'none' ? 0 : 1) + stopBits;
}

export function charTimeMs(baudRate: number, bits: number): number {
  return (bits * 1000) / baudRate;
}

/**
 * Modbus over Serial Line V1.02 §2.5.1.1 (3.5 char silent interval between frames): 3.5 character times,
 * or a fixed 1.75 ms above 19200 baud, where the spec fixes the timer values.
 */
export function interFrameDelayMs(baudRate: number, bits: number): number {
  return baudRate > 19200 ? 1.75 : 3.5 * charTimeMs(baudRate, bits);
}
