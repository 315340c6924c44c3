// Every sink type Sluice knows, in one explicit list (no registration by import side effects).
//
// Every sink folder has the same file roles (as each sink under Vector's src/sinks/ does), so that knowing
// one sink is knowing them all; a sink without a need for a role has no such file:
//   index.ts     the registry entry: type, description, schema and factory; imports schema.ts and sink.ts
//   schema.ts    the config schema, its defaults and docs; the config type inferred from it
//   sink.ts      the Sink implementation: connect, write, flush, close, health (../components.ts)
//   client.ts    the transport to the upstream: KafkaJS (kafka), WebHDFS (hdfs), the local filesystem (file)
//   encode.ts    readings to what the upstream stores, built on the one reading record (toRecord)
//   classify.ts  an upstream error judged: retriable, refused for good, auth/setup or quota
// Beside them, what only one sink needs (kafka: topics, partitioner, the producer thread; hdfs: paths,
// writer, commit). Shared by several sinks: ranged-names.ts (the exactly-once file names of file and hdfs).
import { file } from './file/index.js';
import { hdfs } from './hdfs/index.js';
import { kafka } from './kafka/index.js';

export const sinks = [file, kafka, hdfs] as const;
