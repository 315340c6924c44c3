// Shared tools of the driver tests: byte fixtures, feeding chunks, and the properties every driver must have.
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Driver, DriverOutput } from '../../drivers/driver.js';

export function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** `"AA C0 d4"` -> bytes. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, '');
  return Uint8Array.from(digits.match(/../g) ?? [], (h) => parseInt(h, 16));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Feeds each chunk in turn and merges what came out. */
export function feed(driver: Driver, chunks: readonly Uint8Array[], now = 0): DriverOutput {
  const merged: DriverOutput = { readings: [], errors: [], frames: 0 };
  let frames = 0;
  for (const chunk of chunks) {
    const out = driver.push(chunk, now);
    merged.readings.push(...out.readings);
    merged.errors.push(...out.errors);
    frames += out.frames;
  }
  return { ...merged, frames };
}

/** `data` cut at the given offsets (any order, duplicates and out-of-range ignored). */
export function splitAt(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < data.length))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, data.length]) {
    chunks.push(data.subarray(from, p));
    from = p;
  }
  return chunks;
}

export function reasons(out: DriverOutput): string[] {
  return out.errors.map((e) => e.reason);
}

/** Random bytes in random chunks: push never throws and each call returns quickly. */
export function assertRobustAgainstRandomBytes(make: () => Driver, numRuns = 300): void {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 2048 }), { maxLength: 8 }), (chunks) => {
      const driver = make();
      for (const chunk of chunks) {
        const started = performance.now();
        const out = driver.push(chunk, 0);
        // Bounded work: a generous ceiling that only a hang or quadratic blow-up can reach.
        expect(performance.now() - started).toBeLessThan(500);
        expect(out.frames).toBeGreaterThanOrEqual(0);
      }
    }),
    { numRuns },
  );
}

/** The same bytes cut anywhere give the same readings, errors and frame count as in one chunk. */
export function assertSplitInvariant(
  make: () => Driver,
  data: fc.Arbitrary<Uint8Array>,
  numRuns = 200,
): void {
  fc.assert(
    fc.property(data, fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
      const whole = feed(make(), [bytes]);
      const split = feed(
        make(),
        splitAt(
          bytes,
          cuts.map((c) => c % (bytes.length + 1)),
        ),
      );
      expect(split).toEqual(whole);
    }),
    { numRuns },
  );
}

/** Every byte boundary at once: one byte per push. */
export function assertBytewiseSameAsWhole(make: () => Driver, bytes: Uint8Array): DriverOutput {
  const whole = feed(make(), [bytes]);
  const bytewise = feed(
    make(),
    Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)),
  );
  expect(bytewise).toEqual(whole);
  return whole;
}
