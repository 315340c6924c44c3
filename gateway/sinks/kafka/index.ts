// `kafka`: readings to Apache Kafka (or any Kafka-protocol cluster), one message per reading, keyed by device
// so that each device's readings stay in order on one partition. The schema is in schema.ts; the work is in
// producer.ts.
import type { ComponentDefinition, Sink } from '../../components.js';
import { KafkaSink } from './producer.js';
import { schema } from './schema.js';

export { schema } from './schema.js';
export type { KafkaSinkConfig } from './schema.js';

export const kafka: ComponentDefinition<typeof schema, Sink> = {
  type: 'kafka',
  description:
    'Apache Kafka topics, keyed by device for per-device order; at-least-once with (gateway, seq) ids.',
  schema,
  create: (name, config, deps) => new KafkaSink(name, config, deps),
};
