// Messages handled in the same tick share one queue append; one bad message must not spoil the others.
import { afterEach, expect, test } from 'vitest';
import type { MqttBrokerSource } from '../../gateway/sources/mqtt-broker/index.js';
import { connectClient, portOf, startBroker, type Harness } from './mqtt-harness.js';

let h: Harness<MqttBrokerSource> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

test('a message too large for the queue, in a burst with good ones: only it is refused, all are acknowledged', async () => {
  h = await startBroker(
    {
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true }],
      topics: [{ topic: 'text/{device}/{metric}', decoder: 'string' }],
    },
    { maxBytes: 2_000 },
  );
  const appends: number[] = [];
  const queue = h.queue;
  const append = queue.append.bind(queue);
  queue.append = (readings) => {
    appends.push(readings.length);
    return append(readings);
  };
  const dev = await connectClient(`mqtt://127.0.0.1:${portOf(h, 'tcp')}`, { clientId: 'dev-burst' });
  try {
    // Sent without waiting, so that they arrive in one socket chunk and are handled in one tick.
    const sent = Array.from({ length: 10 }, (_, i) =>
      dev.publishAsync('text/dev-burst/t', i === 4 ? 'x'.repeat(3_000) : `v${i}`, { qos: 1 }),
    );
    await Promise.all(sent); // every one PUBACKed
    expect(
      h
        .readings()
        .filter((r) => r.device === 'dev-burst')
        .map((r) => r.value),
    ).toEqual(['v0', 'v1', 'v2', 'v3', 'v5', 'v6', 'v7', 'v8', 'v9']);
    expect(h.rejections.map((r) => r.reason)).toEqual(['too_large']);
    // The burst was one append first (then one per message, after it was refused as a whole).
    expect(appends[0]).toBeGreaterThan(1);
  } finally {
    await dev.endAsync();
  }
});
