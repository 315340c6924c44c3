// `kafka`: readings to Apache Kafka (or any Kafka-protocol cluster), one message per reading, keyed by device
// so that each device's readings stay in order on one partition. The registry entry; the schema is in
// schema.ts, the sink in sink.ts.
import type { ComponentDefinition, Sink } from '../../components.js';
import { schema } from './schema.js';
import { KafkaSink } from './sink.js';

export const kafka: ComponentDefinition<typeof schema, Sink> = {
  type: 'kafka',
  description:
    'Apache Kafka topics, keyed by device for per-device order; at-least-once with (gateway, seq) ids.',
  schema,
  create: (name, config, deps) => new KafkaSink(name, config, deps),
};
