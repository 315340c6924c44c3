// The sink's partitioner must put every key on the partition KafkaJS's DefaultPartitioner (= the Java
// client's default) would: consumers and other producers of the same topic rely on key -> partition.
import fc from 'fast-check';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { expect, test } from 'vitest';
import { fastDefaultPartitioner, murmur2 } from '../../../gateway/sinks/kafka/partitioner.js';

const metadata = (n: number): PartitionMetadata[] =>
  Array.from({ length: n }, (_, i) => ({
    partitionErrorCode: 0,
    partitionId: i,
    leader: i % 3,
    replicas: [0, 1, 2],
    isr: [0, 1, 2],
  }));

test('murmur2: the Java client values', () => {
  // org.apache.kafka.common.utils.UtilsTest.testMurmur2
  const cases: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [key, hash] of cases) expect(murmur2(Buffer.from(key))).toBe(hash);
});

test('same partition as KafkaJS DefaultPartitioner for any key and partition count', () => {
  const ours = fastDefaultPartitioner();
  const theirs = Partitioners.DefaultPartitioner();
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ maxLength: 9 })),
      fc.integer({ min: 1, max: 64 }),
      fc.boolean(),
      (key, n, asBuffer) => {
        const message = { key: asBuffer ? Buffer.from(key) : key, value: 'v' };
        const args = { topic: 't', partitionMetadata: metadata(n), message };
        // Twice: the second answer comes from the memo.
        expect(ours(args)).toBe(theirs(args));
        expect(ours(args)).toBe(theirs(args));
      },
    ),
    { numRuns: 3000 },
  );
});

test('an explicit partition wins; keyless messages are spread over the partitions', () => {
  const ours = fastDefaultPartitioner();
  const partitionMetadata = metadata(4);
  expect(ours({ topic: 't', partitionMetadata, message: { key: 'k', value: 'v', partition: 3 } })).toBe(3);
  const seen = new Set<number>();
  for (let i = 0; i < 40; i++) seen.add(ours({ topic: 't', partitionMetadata, message: { value: 'v' } }));
  expect(seen).toEqual(new Set([0, 1, 2, 3]));
});
