// The real Apache Kafka peer: a KRaft cluster from Maven Central's jars (cluster.ts), admin operations
// (admin.ts), read-back with kcat and Kafka's own consumer (readback.ts), a Kafka-aware fault proxy
// (proxy.ts), and the cluster shared by the whole run (global-setup.ts, sharedKafka()).
import { inject } from 'vitest';
import type { KafkaClusterInfo } from './info.js';

export { startKafkaCluster, kafkaVersion, USERS } from './cluster.js';
export type { KafkaCluster, KafkaClusterOptions } from './cluster.js';
export * from './admin.js';
export * from './readback.js';
export { KafkaFaultProxy } from './proxy.js';
export { user } from './info.js';
export type { KafkaClusterInfo, ScramUser } from './info.js';
export { clientCert } from './certs.js';
export type { KafkaCerts } from './certs.js';

/**
 * The cluster started once for this run by global-setup.ts. Tests on it create their own topics (unique
 * names) and must not stop nodes: a test that kills brokers starts its own with startKafkaCluster().
 */
export function sharedKafka(): KafkaClusterInfo {
  const info = inject('kafka');
  if (!info) {
    throw new Error(
      'the shared Kafka cluster was not started: test/peers/kafka/global-setup.ts starts it for runs that ' +
        'include a file calling sharedKafka(); is it in vitest.config.ts globalSetup?',
    );
  }
  return info;
}

let topics = 0;
/** A topic name no other test file of this run uses. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}-${process.pid}-${++topics}`;
}
