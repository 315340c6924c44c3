// Reading factories for tests.
import type { Reading } from '../../gateway/reading.js';

export function reading(i: number, over: Partial<Reading> = {}): Reading {
  return {
    device: `dev-${i % 7}`,
    metric: 'temperature',
    value: 20 + (i % 100) / 10,
    unit: 'C',
    ts: 1_700_000_000_000 + i,
    source: 'test',
    ...over,
  };
}

export function readings(n: number, start = 0): Reading[] {
  return Array.from({ length: n }, (_, k) => reading(start + k));
}
