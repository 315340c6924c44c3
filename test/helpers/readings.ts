// Reading factories for tests, and what a file sink wrote.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reading, ReadingRecord } from '../../gateway/reading.js';

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

/** Every record in the file sink's final files of `dir`, in file-name order; none while `dir` does not exist. */
export function fileSinkRecords(dir: string): ReadingRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => n.endsWith('.jsonl'))
    .sort()
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ReadingRecord),
    );
}
