// The embedded broker with foreign clients: mosquitto_pub/sub (MQTT 3.1, 3.1.1; 5 refused) and MQTT.js, over
// TCP, TLS with client certificates, and WebSocket; plus the broker duties local apps rely on.
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { MqttBrokerSource } from '../../gateway/sources/mqtt-broker/index.js';
import { runTool } from '../peers/mosquitto.js';
import { issue, makeTestCerts, type KeyPair, type TestCerts } from '../helpers/certs.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { connectClient, portOf, startBroker, type Harness } from './mqtt-harness.js';

let h: Harness<MqttBrokerSource>;
let certs: TestCerts;
/** A client certificate from the same CA for CN `dev-other`, a client id it must not vouch for. */
let other: KeyPair;
let tcp: number;
let tls: number;
let ws: number;
let wss: number;
const clients: MqttClient[] = [];

async function client(url: string, options: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> {
  const c = await connectClient(url, options);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  // The client certificate's CN is the client id the TLS listener holds it to.
  certs = await makeTestCerts(tempDir('sluice-certs-'), 'dev-tls');
  other = await issue(certs.issuer, { name: 'other', cn: 'dev-other', usage: ['clientAuth'] });
  h = await startBroker({
    listeners: [
      { type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true },
      {
        type: 'tls',
        host: '127.0.0.1',
        port: 0,
        cert_file: certs.serverCert,
        key_file: certs.serverKey,
        ca_file: certs.ca,
        client_certs: 'required',
      },
      { type: 'ws', host: '127.0.0.1', port: 0, allow_anonymous: true },
      {
        type: 'wss',
        host: '127.0.0.1',
        port: 0,
        cert_file: certs.serverCert,
        key_file: certs.serverKey,
        ca_file: certs.ca,
        client_certs: 'optional',
      },
    ],
    topics: [
      { topic: 'sensors/{device}/{metric}', decoder: 'json' },
      { topic: 'senml/{device}', decoder: 'senml_json' },
    ],
  });
  tcp = portOf(h, 'tcp');
  tls = portOf(h, 'tls');
  ws = portOf(h, 'ws');
  wss = portOf(h, 'wss');
});

afterAll(async () => {
  for (const c of clients) c.end(true);
  await h?.close();
});

const stored = (device: string): unknown[] =>
  h
    .readings()
    .filter((r) => r.device === device)
    .map((r) => [r.metric, r.value]);

describe('mosquitto clients', () => {
  test.each([
    ['mqttv31', '1'],
    ['mqttv31', '2'],
    ['mqttv311', '1'],
    ['mqttv311', '2'],
  ])('mosquitto_pub -V %s at QoS %s: exits only once the reading is stored', async (version, qos) => {
    const id = `mp-${version}-q${qos}`;
    const r = await runTool('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(tcp),
      '-V',
      version,
      '-q',
      qos,
      '-i',
      id,
      '-t',
      `sensors/${id}/temp`,
      '-m',
      '21.5',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // mosquitto_pub exits after the PUBACK (QoS 2: the PUBCOMP); the PUBACK or PUBREC follows the flush,
    // so the reading is already there.
    expect(stored(id)).toEqual([['temp', 21.5]]);
  });

  test('an MQTT 5 client is refused with CONNACK "unacceptable protocol version"', async () => {
    const r = await runTool('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(tcp),
      '-V',
      'mqttv5',
      '-q',
      '1',
      '-i',
      'mp-v5',
      '-t',
      'sensors/mp-v5/temp',
      '-m',
      '1',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/protocol version/i);
    expect(stored('mp-v5')).toEqual([]);
  });

  test('mosquitto_sub receives what devices publish (the broker still brokers)', async () => {
    let done = false;
    const sub = runTool('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(tcp),
      '-V',
      'mqttv311',
      '-t',
      'sensors/+/hum',
      '-C',
      '1',
      '-v',
    ]).finally(() => (done = true));
    const dev = await client(`mqtt://127.0.0.1:${tcp}`, { clientId: 'dev-sub' });
    // Publish until the subscriber (whose SUBACK we cannot see) has one.
    while (!done) {
      await dev.publishAsync('sensors/dev-sub/hum', '40', { qos: 1 });
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await sub).stdout.trim()).toBe('sensors/dev-sub/hum 40');
  });
});

describe('MQTT.js over TCP, TLS and WebSocket', () => {
  test('concurrent QoS 1 publishes: every PUBACKed message is in the queue', async () => {
    const dev = await client(`mqtt://127.0.0.1:${tcp}`, { clientId: 'dev-many' });
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => dev.publishAsync('sensors/dev-many/n', String(i), { qos: 1 })),
    );
    expect(
      stored('dev-many')
        .map((x) => (x as [string, number])[1])
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  test('a bad payload is counted, still acknowledged, and does not block the next message', async () => {
    const dev = await client(`mqtt://127.0.0.1:${tcp}`, { clientId: 'dev-bad' });
    await dev.publishAsync('sensors/dev-bad/t', '{not json', { qos: 1 });
    await dev.publishAsync('senml/dev-bad', '[{"n":"t","v":"nope"}]', { qos: 1 });
    await dev.publishAsync('sensors/dev-bad/t', '7', { qos: 1 });
    await dev.publishAsync('senml/dev-bad', '[{"n":"rh","u":"%RH","v":41}]', { qos: 1 });
    expect(stored('dev-bad')).toEqual([
      ['t', 7],
      ['rh', 41],
    ]);
    expect(h.rejections.filter((r) => r.device === 'dev-bad').map((r) => r.reason)).toEqual([
      'bad_json',
      'bad_senml',
    ]);
  });

  test('TLS with a client certificate: mosquitto_pub and MQTT.js, CN = client id', async () => {
    const r = await runTool('mosquitto_pub', [
      ...[
        '-h',
        '127.0.0.1',
        '-p',
        String(tls),
        '-q',
        '1',
        '-i',
        'dev-tls',
        '-t',
        'sensors/dev-tls/temp',
        '-m',
        '19',
      ],
      ...['--cafile', certs.ca, '--cert', certs.clientCert, '--key', certs.clientKey],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const tlsOptions = {
      ca: readFileSync(certs.ca),
      cert: readFileSync(certs.clientCert),
      key: readFileSync(certs.clientKey),
    };
    const dev = await client(`mqtts://127.0.0.1:${tls}`, { clientId: 'dev-tls', ...tlsOptions });
    await dev.publishAsync('sensors/dev-tls/temp', '20', { qos: 1 });
    expect(stored('dev-tls')).toEqual([
      ['temp', 19],
      ['temp', 20],
    ]);
  });

  test('TLS: a certificate for another CN, or none, is refused', async () => {
    const ca = readFileSync(certs.ca);
    const otherCn = {
      ca,
      cert: readFileSync(other.cert),
      key: readFileSync(other.key),
    };
    await expect(
      connectClient(`mqtts://127.0.0.1:${tls}`, { clientId: 'dev-tls', ...otherCn }),
    ).rejects.toThrow(/not authorized/i);
    await expect(connectClient(`mqtts://127.0.0.1:${tls}`, { clientId: 'dev-tls', ca })).rejects.toThrow();
  });

  test('MQTT over WebSocket', async () => {
    const dev = await client(`ws://127.0.0.1:${ws}/mqtt`, { clientId: 'dev-ws' });
    await dev.publishAsync('sensors/dev-ws/co2', '{"value":415,"unit":"ppm"}', { qos: 1 });
    expect(
      h
        .readings()
        .filter((r) => r.device === 'dev-ws')
        .map((r) => [r.metric, r.value, r.unit]),
    ).toEqual([['co2', 415, 'ppm']]);
  });
});

describe('MQTT over secure WebSocket', () => {
  test('wss:// with a client certificate: CN = client id; without credentials refused', async () => {
    const ca = readFileSync(certs.ca);
    const dev = await client(`wss://127.0.0.1:${wss}/mqtt`, {
      clientId: 'dev-tls',
      ca,
      cert: readFileSync(certs.clientCert),
      key: readFileSync(certs.clientKey),
    });
    await dev.publishAsync('sensors/dev-tls/rh', '55', { qos: 1 });
    expect(stored('dev-tls')).toContainEqual(['rh', 55]);
    // The listener is not anonymous: a client with neither a certificate nor a password is refused.
    await expect(connectClient(`wss://127.0.0.1:${wss}/mqtt`, { clientId: 'dev-anon', ca })).rejects.toThrow(
      /not authorized/i,
    );
  });
});

describe('broker duties', () => {
  test('retained messages reach later subscribers', async () => {
    const dev = await client(`mqtt://127.0.0.1:${tcp}`, { clientId: 'dev-ret' });
    await dev.publishAsync('status/dev-ret', 'online', { qos: 1, retain: true });
    const r = await runTool('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(tcp),
      '-t',
      'status/dev-ret',
      '-C',
      '1',
    ]);
    expect(r.stdout.trim()).toBe('online');
  });

  test('a Last Will is published when a client vanishes', async () => {
    const app = await client(`mqtt://127.0.0.1:${tcp}`, { clientId: 'app-will' });
    const got = new Promise<string>((resolve) => app.on('message', (_t, p) => resolve(p.toString())));
    await app.subscribeAsync('status/dev-will', { qos: 1 });
    const dev = await client(`mqtt://127.0.0.1:${tcp}`, {
      clientId: 'dev-will',
      will: { topic: 'status/dev-will', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    dev.stream.destroy();
    expect(await got).toBe('gone');
  });

  test('persistent sessions keep QoS 1 messages for an offline subscriber (in-memory, until the gateway restarts)', async () => {
    const first = await client(`mqtt://127.0.0.1:${tcp}`, { clientId: 'app-persist', clean: false });
    await first.subscribeAsync('sensors/dev-p/#', { qos: 1 });
    await first.endAsync();
    const dev = await client(`mqtt://127.0.0.1:${tcp}`, { clientId: 'dev-p' });
    for (const v of ['1', '2', '3']) await dev.publishAsync('sensors/dev-p/x', v, { qos: 1 });
    const got: string[] = [];
    // The handler must be there before CONNACK: the queued messages follow it at once.
    const again = mqtt.connect(`mqtt://127.0.0.1:${tcp}`, {
      clientId: 'app-persist',
      clean: false,
      reconnectPeriod: 0,
    });
    clients.push(again);
    again.on('message', (_t, p) => got.push(p.toString()));
    await until(() => got.length === 3, { what: 'queued messages', timeoutMs: 5000 });
    expect(got).toEqual(['1', '2', '3']);
  });
});
