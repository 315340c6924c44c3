import { expect, test } from 'vitest';
import {
  SEQ_WIDTH,
  finalName,
  padSeq,
  parseRangedName,
  rangedName,
} from '../../gateway/sinks/ranged-names.js';

test('a ranged name holds the range zero-padded to one width, so listings sort in sequence order', () => {
  expect(rangedName('commit', 1, 137, 'json')).toBe('commit-0000000000000001-0000000000000137.json');
  expect(padSeq(Number.MAX_SAFE_INTEGER)).toHaveLength(SEQ_WIDTH);
  const names = [
    [9, 10],
    [100, 200],
    [11, 99],
  ].map(([a, b]) => rangedName('s', a!, b!, 'jsonl'));
  expect([...names].sort()).toEqual([names[0], names[2], names[1]]);
});

test('every formatted name parses back to its range, any stem and extension', () => {
  for (const [first, last] of [
    [1, 1],
    [42, 4242],
    [Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER],
  ] as const) {
    const name = finalName('sluice', 'gw-1', first, last, 'csv.gz');
    expect(parseRangedName(name)).toEqual({ first, last });
    expect(parseRangedName(name, 'sluice-gw-1', 'csv.gz')).toEqual({ first, last });
  }
});

test('with a stem and extension, only that sink’s own names count', () => {
  const mine = finalName('readings', 'gw1', 1, 3, 'jsonl');
  expect(parseRangedName(mine, 'readings-gw1', 'jsonl')).toEqual({ first: 1, last: 3 });
  expect(
    parseRangedName(finalName('readings', 'gw2', 1, 3, 'jsonl'), 'readings-gw1', 'jsonl'),
  ).toBeUndefined();
  expect(parseRangedName(finalName('readings', 'gw1', 1, 3, 'csv'), 'readings-gw1', 'jsonl')).toBeUndefined();
  // A stem is matched literally, not as a pattern.
  expect(parseRangedName(finalName('aXb', 'gw1', 1, 3, 'jsonl'), 'a.b-gw1', 'jsonl')).toBeUndefined();
  expect(
    parseRangedName('.readings-gw1-0000000000000004.jsonl.tmp', 'readings-gw1', 'jsonl'),
  ).toBeUndefined();
  expect(parseRangedName('readings-gw1-1-3.jsonl')).toBeUndefined();
});
