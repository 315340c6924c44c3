// Client ids at CONNECT: an empty id is refused where MQTT 3.1/3.1.1 say so ([MQTT-3.1.3-8]), the same
// packets against a real mosquitto for comparison; and `client_id_binding`, which keeps one device from
// connecting with another's id (taking its session, publishing as it under a `%c` ACL).
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hashPassword } from '../../gateway/sources/mqtt-broker/auth.js';
import { schema, type MqttBrokerSource } from '../../gateway/sources/mqtt-broker/index.js';
import { Mosquitto, mosquittoBinary } from '../peers/mosquitto.js';
import { until } from '../helpers/wait.mjs';
import { connectClient, portOf, rawPacket, startBroker, type Harness } from './mqtt-harness.js';

interface ConnectFields {
  readonly version: 3 | 4 | 5;
  readonly clientId: string;
  readonly clean: boolean;
}

/** A CONNECT without credentials, keep-alive 60 s; MQTT 5 with an empty property list. */
function connectPacket({ version, clientId, clean }: ConnectFields): Buffer {
  const name = Buffer.from(version === 3 ? 'MQIsdp' : 'MQTT');
  const id = Buffer.from(clientId);
  const properties = version === 5 ? [0] : [];
  return rawPacket(
    0x10,
    Buffer.from([
      0,
      name.length,
      ...name,
      version,
      clean ? 0x02 : 0,
      0,
      60,
      ...properties,
      id.length >> 8,
      id.length & 0xff,
      ...id,
    ]),
  );
}

/** Sends one CONNECT and returns the CONNACK's return code (3.1/3.1.1) or reason code (5). */
function connackCode(port: number, packet: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(packet));
    let got = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 4) return;
      sock.destroy();
      if (got[0] !== 0x20) reject(new Error(`not a CONNACK: ${got.toString('hex')}`));
      else resolve(got[3] ?? -1);
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error(`closed without a CONNACK (got ${got.toString('hex')})`)));
  });
}

const CASES: ReadonlyArray<{ what: string; fields: ConnectFields; sluice: number; mosquitto: number }> = [
  // [MQTT-3.1.3-8]: 0x02 identifier rejected.
  {
    what: '3.1.1, clean session 0',
    fields: { version: 4, clientId: '', clean: false },
    sluice: 2,
    mosquitto: 2,
  },
  // [MQTT-3.1.3-6]/[MQTT-3.1.3-7]: accepted with an id the server assigns.
  {
    what: '3.1.1, clean session 1',
    fields: { version: 4, clientId: '', clean: true },
    sluice: 0,
    mosquitto: 0,
  },
  // MQTT 3.1: "The Client Identifier (Client ID) is between 1 and 23 characters long".
  {
    what: '3.1, clean session 1',
    fields: { version: 3, clientId: '', clean: true },
    sluice: 2,
    mosquitto: 2,
  },
  // MQTT 5 allows an empty id with Clean Start 0 too (3.1.3.1; mosquitto assigns one). aedes 1.2 speaks
  // only 3.1/3.1.1 and refuses any MQTT 5 CONNECT with 0x01, unacceptable protocol version.
  { what: '5, clean start 0', fields: { version: 5, clientId: '', clean: false }, sluice: 1, mosquitto: 0 },
];

describe('an empty client id', () => {
  let h: Harness<MqttBrokerSource>;
  let port: number;

  beforeAll(async () => {
    h = await startBroker({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, allow_anonymous: true }],
    });
    port = portOf(h, 'tcp');
  });
  afterAll(() => h?.close());

  test.each(CASES)('MQTT $what: CONNACK $sluice', async ({ fields, sluice }) => {
    expect(await connackCode(port, connectPacket(fields))).toBe(sluice);
  });

  test('the refusals are counted', () => {
    expect(h.errors.filter((e) => e.kind === 'empty_client_id')).toHaveLength(2);
  });

  test('a non-empty id with clean session 0 is still accepted', async () => {
    expect(await connackCode(port, connectPacket({ version: 4, clientId: 'dev-1', clean: false }))).toBe(0);
  });
});

describe('an empty client id against mosquitto, for comparison', () => {
  let m: Mosquitto;
  beforeAll(async () => {
    m = await Mosquitto.start();
  });
  afterAll(() => m?.stop());

  test.each(CASES)('MQTT $what: CONNACK $mosquitto', async ({ fields, mosquitto }) => {
    expect(await connackCode(m.port, connectPacket(fields))).toBe(mosquitto);
  });
});

const clients: MqttClient[] = [];
afterAll(() => {
  for (const c of clients) c.end(true);
});
async function client(url: string, options: Parameters<typeof connectClient>[1]): Promise<MqttClient> {
  const c = await connectClient(url, options);
  clients.push(c);
  return c;
}

describe('client_id_binding', () => {
  const cost = { ln: 10, r: 8, p: 1 };
  const users = async (): Promise<Record<string, string>> => ({
    'dev-1': await hashPassword('pw-1', cost),
    'dev-2': await hashPassword('pw-2', cost),
    dev: await hashPassword('pw-dev', cost),
  });
  const acl = [{ publish: ['sensors/%c/#'] }];
  const topics = [{ topic: 'sensors/{device}/{metric}', decoder: 'json' as const }];
  const listeners = [{ type: 'tcp' as const, host: '127.0.0.1', port: 0 }];

  test("off (the default): a device connects with another one's id, takes its session and publishes as it", async () => {
    const h = await startBroker({ listeners, users: await users(), acl, topics });
    try {
      const url = `mqtt://127.0.0.1:${portOf(h, 'tcp')}`;
      const victim = await client(url, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' });
      const victimClosed = new Promise<void>((r) => victim.once('close', () => r()));
      const thief = await client(url, { clientId: 'dev-1', username: 'dev-2', password: 'pw-2' });
      await victimClosed; // session takeover
      await thief.publishAsync('sensors/dev-1/temp', '99', { qos: 1 });
      expect(h.readings().map((r) => [r.device, r.value])).toEqual([['dev-1', 99]]);
    } finally {
      await h.close();
    }
  });

  describe('username', () => {
    let h: Harness<MqttBrokerSource>;
    let url: string;
    beforeAll(async () => {
      h = await startBroker({ listeners, users: await users(), acl, topics, client_id_binding: 'username' });
      url = `mqtt://127.0.0.1:${portOf(h, 'tcp')}`;
    });
    afterAll(() => h?.close());

    test("another user's id is refused with CONNACK 2 and counted; the victim stays connected", async () => {
      const victim = await client(url, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' });
      await expect(
        connectClient(url, { clientId: 'dev-1', username: 'dev-2', password: 'pw-2' }),
      ).rejects.toThrow(/identifier rejected/i);
      expect(h.errors).toContainEqual({ stage: 'authorize', kind: 'client_id_not_bound' });
      await victim.publishAsync('sensors/dev-1/temp', '21', { qos: 1 });
      expect(victim.connected).toBe(true);
      expect(h.readings().map((r) => [r.device, r.value])).toEqual([['dev-1', 21]]);
    });

    test('an id that only starts with the username is refused', async () => {
      await expect(
        connectClient(url, { clientId: 'dev-1-b', username: 'dev-1', password: 'pw-1' }),
      ).rejects.toThrow(/identifier rejected/i);
    });

    test('a wrong password still says so, not that the id is wrong', async () => {
      await expect(
        connectClient(url, { clientId: 'dev-1', username: 'dev-2', password: 'nope' }),
      ).rejects.toThrow(/bad user ?name or password/i);
    });

    test('mosquitto_pub with its own id gets in; with another id it is refused', async () => {
      const pub = promisify(execFile);
      const port = String(portOf(h, 'tcp'));
      const args = ['-h', '127.0.0.1', '-p', port, '-u', 'dev-2', '-P', 'pw-2', '-q', '1'];
      await pub(mosquittoBinary('mosquitto_pub'), [
        ...args,
        '-i',
        'dev-2',
        '-t',
        'sensors/dev-2/t',
        '-m',
        '5',
      ]);
      await until(() => h.readings().some((r) => r.device === 'dev-2' && r.value === 5), {
        what: 'the reading of dev-2',
        timeoutMs: 5000,
      });
      const refused = pub(mosquittoBinary('mosquitto_pub'), [
        ...args,
        '-i',
        'dev-1',
        '-t',
        'sensors/dev-1/t',
        '-m',
        '6',
      ]);
      await expect(refused).rejects.toThrow(/identifier rejected/i);
      expect(h.readings().some((r) => r.value === 6)).toBe(false);
    });
  });

  describe('username_prefix', () => {
    let h: Harness<MqttBrokerSource>;
    let url: string;
    beforeAll(async () => {
      h = await startBroker({
        listeners,
        users: await users(),
        acl,
        topics,
        client_id_binding: 'username_prefix',
      });
      url = `mqtt://127.0.0.1:${portOf(h, 'tcp')}`;
    });
    afterAll(() => h?.close());

    test('the username and <username>-<anything> are admitted', async () => {
      await expect(
        client(url, { clientId: 'dev-2', username: 'dev-2', password: 'pw-2' }),
      ).resolves.toBeDefined();
      const c = await client(url, { clientId: 'dev-2-x', username: 'dev-2', password: 'pw-2' });
      await c.publishAsync('sensors/dev-2-x/temp', '7', { qos: 1 });
      expect(h.readings().map((r) => [r.device, r.value])).toEqual([['dev-2-x', 7]]);
    });

    test("an id owned by a longer username is refused: user dev cannot take dev-1's id", async () => {
      await expect(
        connectClient(url, { clientId: 'dev-1', username: 'dev', password: 'pw-dev' }),
      ).rejects.toThrow(/identifier rejected/i);
      await expect(
        connectClient(url, { clientId: 'dev-1-x', username: 'dev', password: 'pw-dev' }),
      ).rejects.toThrow(/identifier rejected/i);
      await expect(
        client(url, { clientId: 'dev-9', username: 'dev', password: 'pw-dev' }),
      ).resolves.toBeDefined();
      await expect(
        client(url, { clientId: 'dev-1-x', username: 'dev-1', password: 'pw-1' }),
      ).resolves.toBeDefined();
    });

    test('an id of another name is refused', async () => {
      await expect(
        connectClient(url, { clientId: 'other', username: 'dev', password: 'pw-dev' }),
      ).rejects.toThrow(/identifier rejected/i);
      await expect(
        connectClient(url, { clientId: 'devx', username: 'dev', password: 'pw-dev' }),
      ).rejects.toThrow(/identifier rejected/i);
    });
  });

  test('a binding with a listener that allows anonymous clients is a config error', () => {
    const implicit = schema.safeParse({ type: 'mqtt_broker', client_id_binding: 'username' });
    expect(implicit.error?.issues[0]?.path).toEqual(['client_id_binding']);
    expect(implicit.error?.issues[0]?.message).toMatch(/tcp:\/\/127\.0\.0\.1:1883 allows them/);
    const explicit = schema.safeParse({
      type: 'mqtt_broker',
      client_id_binding: 'username_prefix',
      listeners: [{ type: 'tcp', allow_anonymous: true }],
    });
    expect(explicit.success).toBe(false);
    expect(schema.safeParse({ type: 'mqtt_broker', client_id_binding: 'username', listeners }).success).toBe(
      true,
    );
  });
});
