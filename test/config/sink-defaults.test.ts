// A sink's own batch and retry defaults hold for the fields a config leaves out, not only when it leaves
// out the whole object (the Kafka and HDFS sinks batch far more than the shared default).
import { expect, test } from 'vitest';
import { schema as kafka } from '../../gateway/sinks/kafka/schema.js';
import { schema as hdfs } from '../../gateway/sinks/hdfs/schema.js';

test('a partial batch or retry keeps the sink’s own defaults for the rest', () => {
  const k = kafka.parse({
    type: 'kafka',
    brokers: ['127.0.0.1:9092'],
    topic: 't',
    batch: { linger_ms: 50 },
    retry: { initial_ms: 10 },
  });
  expect(k.batch).toEqual({ max_count: 8_000, max_bytes: 2 * 1024 * 1024, linger_ms: 50 });
  expect(k.retry).toMatchObject({ initial_ms: 10, max_ms: 2_000 });
  expect(kafka.parse({ type: 'kafka', brokers: ['127.0.0.1:9092'], topic: 't' }).batch.max_count).toBe(8_000);
  const h = hdfs.parse({
    type: 'hdfs',
    namenodes: ['http://127.0.0.1:9870'],
    path: '/d',
    auth: { type: 'pseudo', user: 'sluice' },
    batch: { max_count: 10 },
  });
  expect(h.batch).toEqual({ max_count: 10, max_bytes: 4 * 1024 * 1024, linger_ms: 200 });
  expect(h.retry.max_ms).toBe(5_000);
});
