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
//
// Only the schemas are imported here; each sink's implementation and its libraries (KafkaJS, the Parquet and
// Avro writers) load when a config first uses that type (lazyComponent). The description repeats the one in
// the sink's own index.ts (test/config/registry.test.ts checks that they agree).
import { lazyComponent } from '../components.js';
import { schema as fileSchema } from './file/schema.js';
import { schema as hdfsSchema } from './hdfs/schema.js';
import { schema as kafkaSchema } from './kafka/schema.js';

export const sinks = [
  lazyComponent(
    'file',
    'JSON-lines files in a local directory, rolled by size, count and time, exactly once.',
    fileSchema,
    async () => (await import('./file/index.js')).file,
  ),
  lazyComponent(
    'kafka',
    'Apache Kafka topics, keyed by device for per-device order; at-least-once with (gateway, seq) ids.',
    kafkaSchema,
    async () => (await import('./kafka/index.js')).kafka,
  ),
  lazyComponent(
    'hdfs',
    'HDFS files over WebHDFS, rolled by size, count and time, exactly once.',
    hdfsSchema,
    async () => (await import('./hdfs/index.js')).hdfs,
  ),
] as const;
