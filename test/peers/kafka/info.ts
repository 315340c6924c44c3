// What a test needs to know of a running Kafka peer cluster: plain data, so that a cluster started once
// for the whole run (global-setup.ts) can be described to every test file's worker.
import type { KafkaCerts } from './certs.js';

export interface ScramUser {
  readonly name: string;
  readonly password: string;
}

export interface KafkaClusterInfo {
  /** Apache Kafka version of the broker jars, e.g. 4.4.0. */
  readonly version: string;
  readonly clusterId: string;
  readonly dir: string;
  readonly certs: KafkaCerts;
  /** SCRAM-SHA-256 and -512 credentials of each user (see cluster.ts for who may do what). */
  readonly users: readonly ScramUser[];
  readonly nodeIds: readonly number[];
  /** PLAINTEXT host:port per node, in node order. */
  readonly bootstrap: readonly string[];
  /** SASL_SSL (SCRAM) listeners, advertised as localhost. */
  readonly saslSsl: readonly string[];
  /** TLS listeners requiring a client certificate, advertised as localhost. */
  readonly mtls: readonly string[];
  /** TLS listeners advertised by IP; the broker certificate names only localhost. */
  readonly tlsIp: readonly string[];
  /** PLAINTEXT listeners advertised at `advertised`, where a fault proxy to `target` may listen. */
  readonly proxied: readonly { node: number; advertised: number; target: number }[];
  /** JVM pid per node (0 while a node is down). */
  readonly pids: readonly number[];
}

export function user(info: KafkaClusterInfo, name: string): ScramUser {
  const u = info.users.find((x) => x.name === name);
  if (!u) throw new Error(`the Kafka peer has no user ${name}`);
  return u;
}
