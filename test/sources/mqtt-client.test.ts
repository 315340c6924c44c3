// The `mqtt` client source against a real mosquitto: persistent session (messages queued while we are away,
// across a broker restart), reconnection, and no acknowledgement to the broker before the durable append.
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SluiceError } from '../../gateway/errors.js';
import { validateConfig } from '../../gateway/config/load.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { freePort } from '../helpers/net.mjs';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { Mosquitto, runTool } from '../peers/mosquitto.js';
import { startClientSource } from './mqtt-harness.js';

let broker: Mosquitto;

beforeAll(async () => {
  broker = await Mosquitto.start({ persistence: true });
});
afterAll(async () => {
  await broker?.dispose();
});

const reconnect = { initial_ms: 50, max_ms: 500, multiplier: 2 };

async function publishAll(topic: string, values: readonly string[]): Promise<void> {
  const pub = await mqtt.connectAsync(broker.url, { clientId: 'test-publisher', reconnectPeriod: 0 });
  for (const v of values) await pub.publishAsync(topic, v, { qos: 1 });
  await pub.endAsync();
}

describe('mqtt client source', () => {
  test('subscribes with QoS 1 and stores what mosquitto_pub sends', async () => {
    const h = await startClientSource({ url: broker.url, client_id: 'sluice-a', reconnect });
    try {
      await until(() => h.source.health().state === 'healthy', { what: 'connected', timeoutMs: 5000 });
      await new Promise((r) => setTimeout(r, 100)); // SUBACK
      const r = await runTool('mosquitto_pub', [
        '-h',
        '127.0.0.1',
        '-p',
        String(broker.port),
        '-q',
        '1',
        '-t',
        'sensors/d1/temp',
        '-m',
        '{"value":21,"unit":"C"}',
      ]);
      expect(r.code, r.stderr).toBe(0);
      await until(() => h.readings().length === 1, { what: 'the reading', timeoutMs: 5000 });
      expect(h.readings()[0]).toMatchObject({
        device: 'd1',
        metric: 'temp',
        value: 21,
        unit: 'C',
        source: 'upstream',
      });
    } finally {
      await h.close();
    }
  });

  test('messages queued for our session while we are away survive a broker restart', async () => {
    const first = await startClientSource({ url: broker.url, client_id: 'sluice-b', reconnect });
    await until(() => first.source.health().state === 'healthy', { what: 'connected', timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 100));
    await first.close(); // DISCONNECT: the persistent session (clean = false) stays on the broker
    const values = Array.from({ length: 50 }, (_, i) => String(i));
    await publishAll('sensors/d2/n', values);
    await broker.restart(); // persistence true: the session and its 50 messages are on disk
    const again = await startClientSource({ url: broker.url, client_id: 'sluice-b', reconnect });
    try {
      await until(() => again.readings().length === 50, {
        what: 'the 50 queued messages',
        timeoutMs: 10_000,
      });
      expect(again.readings().map((r) => r.value)).toEqual(values.map(Number));
      // And the broker goes away under a running source: it reconnects with backoff and carries on.
      // Delivery is at least once: a message stored just before the restart, whose PUBACK the broker had
      // not processed yet, comes again (DUP). So: every value at least once, nothing else.
      await broker.restart();
      await publishAll('sensors/d2/n', ['50', '51']);
      const distinct = (): Set<unknown> => new Set(again.readings().map((r) => r.value));
      await until(() => distinct().size === 52, { what: 'messages after the restart', timeoutMs: 10_000 });
      expect([...distinct()].sort((a, b) => Number(a) - Number(b))).toEqual(
        [...values, '50', '51'].map(Number),
      );
    } finally {
      await again.close();
    }
  });

  // A full queue, and a refusal that is not about the reading (a bug): neither may be acknowledged.
  test.each([
    ['SLUICE_QUEUE_FULL', 'sluice-c'],
    ['SLUICE_INTERNAL', 'sluice-c2'],
  ] as const)(
    'no PUBACK before the append: an ingest refused with %s is re-delivered by the broker, not lost',
    async (code, clientId) => {
      let refusals = 3;
      const h = await startClientSource(
        { url: broker.url, client_id: clientId, reconnect },
        {
          ingest: (_queue, next) => (readings) => {
            if (refusals-- > 0) return Promise.reject(new SluiceError(code, 'refused (test)'));
            return next(readings);
          },
        },
      );
      try {
        await until(() => h.source.health().state === 'healthy', { what: 'connected', timeoutMs: 5000 });
        await new Promise((r) => setTimeout(r, 100));
        await publishAll('sensors/d3/t', ['5']);
        await until(() => h.readings().length === 1, { what: 'the re-delivered message', timeoutMs: 10_000 });
        expect(h.readings().map((r) => r.value)).toEqual([5]);
        expect(h.errors.filter((e) => e.kind === code)).toHaveLength(3);
        expect(h.rejections).toEqual([]);
      } finally {
        await h.close();
      }
    },
  );
});

describe('mqtt client source over TLS', () => {
  let tlsBroker: Mosquitto;
  let tlsUrl: string;
  let certs: TestCerts;

  beforeAll(async () => {
    certs = await makeTestCerts(tempDir());
    const port = await freePort();
    // Mutual TLS: mosquitto requires a client certificate signed by the test CA.
    tlsBroker = await Mosquitto.start({
      extraConfig: [
        `listener ${port} 127.0.0.1`,
        `cafile ${certs.ca}`,
        `certfile ${certs.serverCert}`,
        `keyfile ${certs.serverKey}`,
        'require_certificate true',
      ],
    });
    tlsUrl = `mqtts://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await tlsBroker?.dispose();
  });

  test('the tls group verifies the broker and shows the client certificate', async () => {
    const tls = { ca_file: certs.ca, cert_file: certs.clientCert, key_file: certs.clientKey };
    const h = await startClientSource({ url: tlsUrl, client_id: 'sluice-tls', reconnect, tls });
    try {
      await until(() => h.source.health().state === 'healthy', {
        what: 'connected over TLS',
        timeoutMs: 5000,
      });
    } finally {
      await h.close();
    }
  });

  test('the deprecated flat ca_file/cert_file/key_file still connect (moved into tls when loaded)', async () => {
    const config = validateConfig({
      gateway: { id: 'gw-test' },
      sources: {
        upstream: {
          type: 'mqtt',
          url: tlsUrl,
          client_id: 'sluice-flat',
          reconnect,
          ca_file: certs.ca,
          cert_file: certs.clientCert,
          key_file: certs.clientKey,
        },
      },
    });
    const c = config.sources.upstream;
    if (c?.type !== 'mqtt') throw new Error('expected the mqtt source');
    // The component's own options: `processors` belongs to the gateway, which runs the chain.
    const { processors: _processors, ...options } = c;
    const h = await startClientSource(options);
    try {
      await until(() => h.source.health().state === 'healthy', {
        what: 'connected over TLS',
        timeoutMs: 5000,
      });
    } finally {
      await h.close();
    }
  });

  test('without the CA the broker certificate is refused: the source is degraded, never healthy', async () => {
    const tls = { cert_file: certs.clientCert, key_file: certs.clientKey };
    const h = await startClientSource({ url: tlsUrl, client_id: 'sluice-noca', reconnect, tls });
    try {
      await until(() => h.errors.some((e) => e.stage === 'connect'), {
        what: 'a connect error',
        timeoutMs: 5000,
      });
      expect(h.source.health().state).not.toBe('healthy');
    } finally {
      await h.close();
    }
  });
});
