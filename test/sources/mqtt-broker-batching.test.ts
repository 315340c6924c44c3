// Messages handled in the same turn share one queue append; one bad message must not spoil the others.
import { afterEach, expect, test } from 'vitest';
import { SluiceError } from '../../gateway/errors.js';
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
  queue.append = (readings, options) => {
    appends.push(readings.length);
    return append(readings, options);
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

test('reject_new, a burst only part of which fits: what fits is stored and acknowledged, in order', async () => {
  h = await startBroker(
    {
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true }],
      topics: [{ topic: 'text/{device}/{metric}', decoder: 'string' }],
    },
    { onFull: 'reject_new' },
  );
  const queue = h.queue;
  await queue.openCursor('sink', 'oldest');
  const appends: number[] = [];
  const append = queue.append.bind(queue);
  queue.append = (readings, options) => {
    appends.push(readings.length);
    return append(readings, options);
  };
  const dev = await connectClient(`mqtt://127.0.0.1:${portOf(h, 'tcp')}`, {
    clientId: 'dev-part',
    reconnectPeriod: 0,
  });
  try {
    for (let i = 0; i < 10; i++) await dev.publishAsync('text/dev-part/t', `a${i}`, { qos: 1 });
    const one = queue.stats().bytes / 10;
    // Room for three more readings of the same size. The burst of ten fits max_bytes (so it is not refused
    // as too large) but not the room left: the queue refuses it as full.
    queue.setLimits({ maxBytes: Math.floor(one * 13.5), onFull: 'reject_new' });
    appends.length = 0;
    const closed = new Promise<void>((resolve) => dev.once('close', () => resolve()));
    const sent = Array.from({ length: 10 }, (_, i) =>
      dev.publishAsync('text/dev-part/t', `b${i}`, { qos: 1 }).then(
        () => 'acked',
        () => 'not acked',
      ),
    );
    // The connection is dropped at the first message that does not fit (back-pressure): no PUBACK for it
    // or for what came after it (ending the client fails what still waits).
    await closed;
    dev.end(true);
    const outcomes = await Promise.all(sent);
    expect(outcomes).toEqual([...Array(3).fill('acked'), ...Array(7).fill('not acked')]);
    expect(
      h
        .readings()
        .filter((r) => r.device === 'dev-part')
        .map((r) => r.value),
    ).toEqual([...Array.from({ length: 10 }, (_, i) => `a${i}`), 'b0', 'b1', 'b2']);
    expect(appends[0]).toBe(10); // the burst was one append first, refused as a whole: the queue was full
    expect(h.errors.filter((e) => e.kind === 'SLUICE_QUEUE_FULL').length).toBeGreaterThan(0);
  } finally {
    dev.end(true);
  }
});

test('an append refused for any reason but the reading itself (a bug, a stop): no PUBACK, nothing counted as rejected', async () => {
  h = await startBroker({
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true }],
    topics: [{ topic: 'text/{device}/{metric}', decoder: 'string' }],
  });
  const queue = h.queue;
  const append = queue.append.bind(queue);
  // Not retriable, and not about the reading: acknowledging it would lose a reading the device thinks safe.
  queue.append = () => Promise.reject(new SluiceError('SLUICE_INTERNAL', 'a broken rule'));
  const dev = await connectClient(`mqtt://127.0.0.1:${portOf(h, 'tcp')}`, {
    clientId: 'dev-bug',
    reconnectPeriod: 0,
  });
  try {
    const closed = new Promise<void>((resolve) => dev.once('close', () => resolve()));
    const sent = dev.publishAsync('text/dev-bug/t', 'kept', { qos: 1 }).then(
      () => 'acked',
      () => 'not acked',
    );
    await closed;
    dev.end(true);
    expect(await sent).toBe('not acked');
    expect(h.rejections).toEqual([]);
    expect(h.readings().filter((r) => r.device === 'dev-bug')).toEqual([]);
  } finally {
    queue.append = append;
    dev.end(true);
  }
});
