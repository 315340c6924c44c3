// The partitioner of the sink: Kafka's default (Java client) for keyed messages, as KafkaJS's
// DefaultPartitioner computes it, but with 32-bit integer arithmetic instead of KafkaJS's 64-bit Long
// emulation, and with the hash of each key remembered (keys are device ids: few, and repeated in every
// batch). KafkaJS's version allocated a filtered partition list and about a dozen Long objects per message;
// it was a tenth of the producer thread's time. Keyless messages go to KafkaJS's own round robin.
// Same results as KafkaJS (and the Java client): test/sinks/kafka/partitioner.test.ts compares them.
import { Partitioners, type ICustomPartitioner } from 'kafkajs';
import { keyPartition, memoHash, murmur2 } from './murmur2.js';

export { keyPartition, memoHash, murmur2 };

export const fastDefaultPartitioner: ICustomPartitioner = () => {
  const keyless = Partitioners.DefaultPartitioner();
  const hashOf = memoHash();
  return (args) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const key = message.key;
    if (key === null || key === undefined) return keyless(args);
    // KafkaJS hashes Buffer.from(String(key)) when the key is not a Buffer: the same bytes.
    const h = Buffer.isBuffer(key) ? murmur2(key) : hashOf(String(key));
    return keyPartition(h, partitionMetadata.length);
  };
};
