// Security of the embedded broker: anonymous refused off loopback, credentials, ACLs (publish, subscribe,
// `$SYS`, Last Will), connection cap and rate limit; and back-pressure when the queue refuses new readings.
import { connect } from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hashPassword } from '../../gateway/sources/mqtt-broker/auth.js';
import type { MqttBrokerSource } from '../../gateway/sources/mqtt-broker/index.js';
import { ConnectionGate } from '../../gateway/sources/mqtt-broker/listeners.js';
import { until } from '../helpers/wait.mjs';
import {
  connectClient,
  portOf,
  rawConnect,
  remainingLength,
  startBroker,
  type Harness,
} from './mqtt-harness.js';

const clients: MqttClient[] = [];
async function client(url: string, options: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> {
  const c = await connectClient(url, options);
  clients.push(c);
  return c;
}

afterAll(() => {
  for (const c of clients) c.end(true);
});

describe('authentication and ACL', () => {
  let h: Harness<MqttBrokerSource>;
  let url: string;

  beforeAll(async () => {
    // Cheap hashes keep the test fast; the format and the check are the same as with the default cost.
    const cost = { ln: 10, r: 8, p: 1 };
    h = await startBroker({
      // 127.0.0.2 is loopback too, but a configured listener refuses anonymous clients unless told otherwise.
      listeners: [{ type: 'tcp', host: '127.0.0.2', port: 0 }],
      users: {
        'dev-1': await hashPassword('pw-1', cost),
        'dev-2': await hashPassword('pw-2', cost),
        app: await hashPassword('pw-app', cost),
      },
      acl: [
        { publish: ['sensors/%c/#', 'status/%c'], subscribe: ['cmd/%c/#'] },
        { username: 'app', subscribe: ['sensors/#', 'status/#', '$SLUICE/#'], publish: ['cmd/#'] },
      ],
    });
    url = `mqtt://127.0.0.2:${portOf(h, 'tcp')}`;
  });
  afterAll(() => h?.close());

  test('anonymous clients are refused on a configured listener', async () => {
    await expect(connectClient(url, { clientId: 'anon' })).rejects.toThrow(/not authorized/i);
    expect(h.errors).toContainEqual({ stage: 'authorize', kind: 'anonymous' });
  });

  test('a wrong password or an unknown user is refused; the right one is admitted', async () => {
    await expect(
      connectClient(url, { clientId: 'dev-1', username: 'dev-1', password: 'nope' }),
    ).rejects.toThrow(/bad user ?name or password/i);
    await expect(connectClient(url, { clientId: 'x', username: 'ghost', password: 'pw-1' })).rejects.toThrow(
      /bad user ?name or password/i,
    );
    await expect(
      client(url, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' }),
    ).resolves.toBeDefined();
  });

  test('publishes outside the ACL (another device, `$SYS`) are acknowledged but neither stored nor delivered', async () => {
    const app = await client(url, { clientId: 'app', username: 'app', password: 'pw-app' });
    const seen: string[] = [];
    app.on('message', (t) => seen.push(t));
    await app.subscribeAsync(['sensors/#', 'status/#'], { qos: 1 });
    const dev = await client(url, { clientId: 'dev-2', username: 'dev-2', password: 'pw-2' });
    await dev.publishAsync('sensors/dev-1/temp', '99', { qos: 1 }); // impersonation: %c is dev-2
    await dev.publishAsync('$SYS/broker/uptime', '1', { qos: 1 });
    await dev.publishAsync('sensors/dev-2/temp', '21', { qos: 1 });
    await until(() => seen.length === 1, { what: 'the allowed message', timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual(['sensors/dev-2/temp']);
    expect(h.readings().map((r) => [r.device, r.metric, r.value])).toEqual([['dev-2', 'temp', 21]]);
    expect(h.errors.filter((e) => e.kind === 'publish_not_authorized')).toHaveLength(2);
  });

  test('subscriptions outside the ACL get SUBACK 0x80 and the connection stays', async () => {
    const dev = await client(url, { clientId: 'dev-1b', username: 'dev-1', password: 'pw-1' });
    const granted = await dev.subscribeAsync('cmd/dev-1b/#', { qos: 1 });
    expect(granted.map((g) => [g.topic, g.qos])).toEqual([['cmd/dev-1b/#', 1]]);
    // MQTT.js turns a 0x80 return code into this rejection.
    await expect(dev.subscribeAsync('sensors/#', { qos: 1 })).rejects.toThrow(/subscribe error/i);
    expect(h.errors).toContainEqual({ stage: 'authorize', kind: 'subscribe_not_authorized' });
    expect(dev.connected).toBe(true);
  });

  test('a Last Will on a topic the client may not publish to is refused at CONNECT', async () => {
    const will = { topic: 'status/dev-1', payload: Buffer.from('gone'), qos: 1 as const, retain: false };
    await expect(
      connectClient(url, { clientId: 'dev-2', username: 'dev-2', password: 'pw-2', will }),
    ).rejects.toThrow(/not authorized/i);
    await expect(
      client(url, {
        clientId: 'dev-2',
        username: 'dev-2',
        password: 'pw-2',
        will: { ...will, topic: 'status/dev-2' },
      }),
    ).resolves.toBeDefined();
  });
});

/** Opens raw TCP connections and reports which the broker closed at once (before any MQTT byte). */
async function openSockets(
  port: number,
  n: number,
  localAddress = '127.0.0.1',
): Promise<{ closed: number; open: () => void }> {
  const socks = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<{ closed: () => boolean; destroy: () => void }>((resolve, reject) => {
          let closed = false;
          const s = connect({ port, host: '127.0.0.1', localAddress });
          s.on('error', reject);
          s.on('close', () => (closed = true));
          s.once('connect', () => resolve({ closed: () => closed, destroy: () => s.destroy() }));
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 150));
  return { closed: socks.filter((s) => s.closed()).length, open: () => socks.forEach((s) => s.destroy()) };
}

describe('connection limits', () => {
  test('connections over max_connections are closed at once', async () => {
    const h = await startBroker({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true }],
      max_connections: 5,
      connect_rate_per_s: 0,
    });
    try {
      const flood = await openSockets(portOf(h, 'tcp'), 12);
      expect(flood.closed).toBe(7);
      flood.open();
      await until(() => h.errors.filter((e) => e.kind === 'max_connections').length === 7, {
        what: 'refusals counted',
        timeoutMs: 5000,
      });
    } finally {
      await h.close();
    }
  });

  test('connections over max_connections_per_ip from one address are closed; other addresses still get in', async () => {
    const h = await startBroker({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true }],
      max_connections_per_ip: 3,
      connect_rate_per_s: 0,
    });
    try {
      // Two hosts on the loopback network: 127.0.0.1 and 127.0.0.2 (any 127/8 address is local on Linux).
      const one = await openSockets(portOf(h, 'tcp'), 5);
      const two = await openSockets(portOf(h, 'tcp'), 3, '127.0.0.2');
      expect(one.closed).toBe(2);
      expect(two.closed).toBe(0);
      expect(h.errors.filter((e) => e.kind === 'max_connections_per_ip')).toHaveLength(2);
      // Closing connections frees the address's slots.
      one.open();
      await new Promise((r) => setTimeout(r, 200));
      const again = await openSockets(portOf(h, 'tcp'), 3);
      expect(again.closed).toBe(0);
      again.open();
      two.open();
    } finally {
      await h.close();
    }
  });

  test('an IPv4 address seen through a dual-stack socket counts as the same host', () => {
    const gate = new ConnectionGate({ maxConnections: 0, maxConnectionsPerIp: 2, ratePerS: 0, burst: 1 });
    expect(gate.admit('10.0.0.7')).toBe('ok');
    expect(gate.admit('::ffff:10.0.0.7')).toBe('ok');
    expect(gate.admit('10.0.0.7')).toBe('max_connections_per_ip');
    expect(gate.admit('fd00::7')).toBe('ok');
    gate.release('::ffff:10.0.0.7');
    expect(gate.admit('10.0.0.7')).toBe('ok');
    expect(gate.connections).toBe(3);
  });

  test('connections over connect_rate_per_s (after the burst) are closed at once', async () => {
    const h = await startBroker({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true }],
      connect_rate_per_s: 0.5,
      connect_burst: 3,
    });
    try {
      const flood = await openSockets(portOf(h, 'tcp'), 10);
      expect(flood.closed).toBe(7);
      flood.open();
      expect(h.errors.filter((e) => e.kind === 'rate_limited')).toHaveLength(7);
    } finally {
      await h.close();
    }
  });
});

describe('back-pressure', () => {
  test('queue full under reject_new: no PUBACK, the client is dropped, and its retry lands once there is room', async () => {
    const h = await startBroker(
      { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true }] },
      { maxBytes: 2000, onFull: 'reject_new' },
    );
    try {
      await h.queue.openCursor('sink', 'oldest');
      const url = `mqtt://127.0.0.1:${portOf(h, 'tcp')}`;
      const dev = await client(url, { clientId: 'dev-full', clean: false, reconnectPeriod: 200 });
      let reconnects = 0;
      dev.on('reconnect', () => reconnects++);
      let i = 0;
      // Fill the queue until an ingest is refused.
      while (!h.errors.some((e) => e.kind === 'SLUICE_QUEUE_FULL')) {
        const sent = dev.publishAsync('sensors/dev-full/n', String(i++), { qos: 1 });
        await Promise.race([sent, new Promise((r) => setTimeout(r, 300))]);
      }
      const last = i - 1;
      const acked = h.readings().map((r) => r.value);
      expect(acked).not.toContain(last);
      // The sink catches up: room again. MQTT.js re-sends the unacknowledged message (DUP) on reconnect.
      await h.queue.ack('sink', h.queue.lastSeq);
      await until(() => h.readings().some((r) => r.value === last), {
        what: 'the withheld message, re-sent',
        timeoutMs: 10_000,
      });
    } finally {
      await h.close();
    }
  });
});

describe('packet size', () => {
  /** MQTT's variable-length "remaining length" (MQTT 3.1.1 §2.2.3). */
  test('a packet over max_packet_bytes closes the connection at its header, before it is buffered', async () => {
    const h = await startBroker({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true }],
      max_packet_bytes: 4096,
    });
    try {
      const port = portOf(h, 'tcp');
      // Under the limit: stored as usual.
      const ok = await client(`mqtt://127.0.0.1:${port}`, { clientId: 'dev-small' });
      await ok.publishAsync('sensors/dev-small/t', '1', { qos: 1 });
      expect(h.readings().map((r) => r.device)).toEqual(['dev-small']);
      // A raw client: CONNECT, then a PUBLISH header announcing 200 MiB, then a trickle of bytes.
      const sock = connect(port, '127.0.0.1');
      const closed = new Promise<number>((resolve) => {
        const t0 = Date.now();
        sock.once('close', () => resolve(Date.now() - t0));
      });
      sock.on('error', () => undefined);
      sock.write(rawConnect('raw'));
      sock.write(Buffer.from([0x32, ...remainingLength(200 * 1024 * 1024), 0, 1, 0x74]));
      const timer = setInterval(() => sock.write(Buffer.alloc(512, 0x61)), 10);
      try {
        expect(await closed).toBeLessThan(2000);
      } finally {
        clearInterval(timer);
      }
      await until(() => h.errors.some((e) => e.stage === 'client' && e.kind === 'SLUICE_PAYLOAD_INVALID'), {
        what: 'oversize packet counted',
        timeoutMs: 5000,
      });
      expect(h.readings().map((r) => r.device)).toEqual(['dev-small']);
    } finally {
      await h.close();
    }
  });
});
