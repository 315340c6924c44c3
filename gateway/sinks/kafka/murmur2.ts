// Kafka's key hashing (the Java client's default partitioner), without KafkaJS: both producer threads use it
// (partitioner.ts for KafkaJS, worker-platformatic.ts), so a key lands on the same partition whichever client
// the sink runs, and the one for @platformatic/kafka does not load KafkaJS.
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

/** murmur2 of a string key's UTF-8 bytes, remembered (keys are device ids: few, and repeated). */
export function memoHash(): (key: string) => number {
  const memo = new Map<string, number>();
  return (key) => {
    let h = memo.get(key);
    if (h === undefined) {
      if (memo.size >= MEMO_MAX) memo.clear();
      h = murmur2(Buffer.from(key));
      memo.set(key, h);
    }
    return h;
  };
}

/** The Java client's partition of a key hash: the sign bit masked off (not Math.abs), modulo the count. */
export function keyPartition(hash: number, partitions: number): number {
  return (hash & 0x7fffffff) % partitions;
}
