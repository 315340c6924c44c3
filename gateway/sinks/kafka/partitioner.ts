// The partitioner of the sink: Kafka's default (Java client) for keyed messages, as KafkaJS's
// DefaultPartitioner computes it, but with 32-bit integer arithmetic instead of KafkaJS's 64-bit Long
// emulation, and with the hash of each key remembered (keys are device ids: few, and repeated in every
// batch). KafkaJS's version allocated a filtered partition list and about a dozen Long objects per message;
// it was a tenth of the producer thread's time. Keyless messages go to KafkaJS's own round robin.
// Same results as KafkaJS (and the Java client): test/sinks/kafka/partitioner.test.ts compares them.
import { Partitioners, type ICustomPartitioner } from 'kafkajs';

const M = 0x5bd1e995;
/** Hashes remembered; past it the memo starts over (a gateway with more devices than this still works). */
const MEMO_MAX = 100_000;

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) of the bytes: a signed 32-bit integer. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k =
      (data[i4] as number) |
      ((data[i4 + 1] as number) << 8) |
      ((data[i4 + 2] as number) << 16) |
      ((data[i4 + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= (data[tail + 2] as number) << 16;
  if (rest >= 2) h ^= (data[tail + 1] as number) << 8;
  if (rest >= 1) {
    h ^= data[tail] as number;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

export const fastDefaultPartitioner: ICustomPartitioner = () => {
  const keyless = Partitioners.DefaultPartitioner();
  const memo = new Map<string, number>();
  const hashOf = (key: string): number => {
    let h = memo.get(key);
    if (h === undefined) {
      if (memo.size >= MEMO_MAX) memo.clear();
      h = murmur2(Buffer.from(key));
      memo.set(key, h);
    }
    return h;
  };
  return (args) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const key = message.key;
    if (key === null || key === undefined) return keyless(args);
    // KafkaJS hashes Buffer.from(String(key)) when the key is not a Buffer: the same bytes.
    const h = Buffer.isBuffer(key) ? murmur2(key) : hashOf(String(key));
    return (h & 0x7fffffff) % partitionMetadata.length;
  };
};
