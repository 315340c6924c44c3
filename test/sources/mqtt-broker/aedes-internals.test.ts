// Guards every aedes/mqtt-packet internal the broker relies on (aedes-internals.ts), against a real aedes:
// an upgrade that removes or reshapes one fails here, by name, rather than as a silent loss of a limit.
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import { until } from '../../helpers/wait.mjs';
import {
  CHECKED_AGAINST,
  isStoredQos2,
  limitPacketSize,
  onBrokerError,
  readWholeBuffer,
} from '../../../gateway/sources/mqtt-broker/aedes-internals.js';

const require = createRequire(import.meta.url);

/** The version of the package `from` resolves `name` to (neither exports its package.json). */
function versionOf(name: string, from: string): string {
  let dir = dirname(createRequire(from).resolve(name));
  while (!dir.endsWith(join('node_modules', name))) {
    if (dir === dirname(dir)) throw new Error(`no node_modules/${name} above ${from}`);
    dir = dirname(dir);
  }
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A connection aedes can be handed: what is pushed into it is what a client sent. */
function connection(): Duplex {
  return new Duplex({ read: () => undefined, write: (_chunk, _enc, cb) => cb() });
}

let broker: Aedes | undefined;
afterEach(async () => {
  const b = broker;
  broker = undefined;
  if (b) await new Promise<void>((resolve) => b.close(resolve));
});

async function aedes(): Promise<Aedes> {
  broker = await Aedes.createBroker();
  return broker;
}

describe('aedes internals', () => {
  test('the installed aedes and mqtt-packet are the versions the internals were read against', () => {
    // Not a failure on its own terms: a newer version may keep every internal, and the tests below say
    // which one moved. Bump CHECKED_AGAINST after reading the new sources and seeing them pass.
    const installed = {
      aedes: versionOf('aedes', import.meta.url),
      // The parser aedes itself loads, wherever the package manager put it.
      'mqtt-packet': versionOf('mqtt-packet', require.resolve('aedes')),
    };
    expect(installed).toEqual(CHECKED_AGAINST);
  });

  test("each client's mqtt-packet parser is `_parser`, with the remaining-length step the size limit wraps", async () => {
    const b = await aedes();
    const client = b.handle(connection());
    const parser = (client as unknown as { _parser?: Record<string, unknown> })._parser;
    expect(typeof parser?._parseLength).toBe('function');
    expect(typeof parser?._emitError).toBe('function');
    expect(parser?.packet).toBeTypeOf('object');
    expect(limitPacketSize(client, 1024)).toBe(true);
  });

  test('the wrapped step refuses an oversize fixed header: the client gets an error before the body', async () => {
    const b = await aedes();
    const conn = connection();
    const client = b.handle(conn);
    expect(limitPacketSize(client, 1024)).toBe(true);
    const failed = new Promise<Error>((resolve) => client.once('error', resolve));
    // CONNECT (0x10) announcing a remaining length of 2 MiB (varint 0x80 0x80 0x80 0x01), body never sent.
    conn.push(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x01]));
    const err = await failed;
    expect(err.message).toMatch(/2097152 bytes exceeds max_packet_bytes \(1024\)/);
    expect((err as Error & { code?: string }).code).toBe('SLUICE_PAYLOAD_INVALID');
  });

  test('a client without the parser is refused (fail closed), not left unlimited', () => {
    expect(limitPacketSize({} as Client, 1024)).toBe(false);
  });

  test('persistence.incomingGetPacket tells a stored QoS 2 message from a first copy', async () => {
    const b = await aedes();
    const client = b.handle(connection());
    Object.assign(client, { id: 'c1' });
    const packet = {
      cmd: 'publish',
      topic: 'a/b',
      payload: Buffer.from('1'),
      qos: 2,
      retain: false,
      dup: false,
      messageId: 7,
    } as PublishPacket;
    expect(await isStoredQos2(b, client, packet)).toBe(false);
    const store = (
      b as unknown as { persistence: { incomingStorePacket(c: Client, p: PublishPacket): Promise<void> } }
    ).persistence;
    await store.incomingStorePacket(client, packet);
    expect(await isStoredQos2(b, client, packet)).toBe(true);
  });

  test("a persistence failure reaches the broker's untyped `error` event", async () => {
    const b = await aedes();
    const seen = new Promise<Error>((resolve) => onBrokerError(b, resolve));
    // aedes.js enqueueOffline: a failing subscriptionsByTopic "errors the whole aedes".
    const persistence = (
      b as unknown as { persistence: { subscriptionsByTopic(t: string): Promise<unknown> } }
    ).persistence;
    persistence.subscriptionsByTopic = () => Promise.reject(new Error('persistence down'));
    b.publish(
      { cmd: 'publish', topic: 'a/b', payload: Buffer.from('1'), qos: 1, retain: false, dup: false },
      () => undefined,
    );
    expect((await seen).message).toBe('persistence down');
  });

  test('a CONNECT buffered in one-byte chunks is answered: read() hands aedes the whole buffer', async () => {
    // aedes reads once per 'readable' event; a Node whose read() returns one chunk (26.10) left this
    // connection waiting for the rest of a packet it had already received.
    const b = await aedes();
    const written: Buffer[] = [];
    const conn = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _enc, cb) => {
        written.push(chunk);
        cb();
      },
    });
    readWholeBuffer(conn);
    b.handle(conn);
    // CONNECT, MQTT 3.1.1, clean session, keepalive 60, client id "d1", one push per byte.
    const connect = [0x10, 14, 0, 4, ...Buffer.from('MQTT'), 4, 2, 0, 60, 0, 2, ...Buffer.from('d1')];
    for (const byte of connect) conn.push(Buffer.from([byte]));
    await until(() => written.length > 0, { what: 'a CONNACK', timeoutMs: 3000 });
    expect([...Buffer.concat(written)]).toEqual([0x20, 2, 0, 0]);
  });
});
