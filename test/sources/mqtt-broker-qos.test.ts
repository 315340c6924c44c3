// What each QoS level waits for. QoS 1's PUBACK and QoS 2's PUBREC leave only once the append is durable;
// QoS 0 is queued without waiting; a QoS 2 message is stored once however often the device re-sends it.
import { connect, type Socket } from 'node:net';
import type { Packet } from 'mqtt';
import { afterEach, expect, test } from 'vitest';
import type { SourceContext } from '../../gateway/components.js';
import type { MqttBrokerSource } from '../../gateway/sources/mqtt-broker/index.js';
import { until } from '../helpers/wait.mjs';
import { connectClient, portOf, rawConnect, rawPacket, startBroker, type Harness } from './mqtt-harness.js';

let h: Harness<MqttBrokerSource> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const listeners = [{ type: 'tcp' as const, host: '127.0.0.1', port: 0, allow_anonymous: true }];
const topics = [{ topic: 'sensors/{device}/{metric}', decoder: 'number' as const }];
const values = (device: string): unknown[] =>
  h!
    .readings()
    .filter((r) => r.device === device)
    .map((r) => r.value);

test('QoS 1 PUBACK and QoS 2 PUBREC wait for the durable append; QoS 0 is delivered without waiting', async () => {
  // Every append waits for `release`: what the broker does meanwhile is what it does before the disk answers.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let heldReadings = 0;
  const ingest =
    (_q: unknown, next: SourceContext['ingest']): SourceContext['ingest'] =>
    (readings, options) => {
      heldReadings += readings.length;
      return held.then(() => next(readings, options));
    };
  h = await startBroker({ listeners, topics }, { ingest });
  const url = `mqtt://127.0.0.1:${portOf(h, 'tcp')}`;
  const app = await connectClient(url, { clientId: 'app' });
  const dev = await connectClient(url, { clientId: 'dev-q' });
  try {
    const delivered: string[] = [];
    app.on('message', (topic) => delivered.push(topic));
    await app.subscribeAsync('sensors/#', { qos: 0 });
    const acks: string[] = [];
    dev.on('packetreceive', (p: Packet) => acks.push(p.cmd));

    const q1 = dev.publishAsync('sensors/dev-q/q1', '1', { qos: 1 });
    const q2 = dev.publishAsync('sensors/dev-q/q2', '2', { qos: 2 });
    dev.publish('sensors/dev-q/q0', '0', { qos: 0 });
    await until(() => heldReadings === 3, { what: 'the three appends', timeoutMs: 5000 });
    // QoS 0 goes on to subscribers while its append is still waiting.
    await until(() => delivered.includes('sensors/dev-q/q0'), {
      what: 'the QoS 0 message at the subscriber',
      timeoutMs: 5000,
    });
    // Nothing acknowledged, and the QoS 1 and 2 messages not passed on, while the disk has not answered.
    await new Promise((r) => setTimeout(r, 200));
    expect(acks).toEqual([]);
    expect(delivered).toEqual(['sensors/dev-q/q0']);
    expect(values('dev-q')).toEqual([]);

    release();
    await Promise.all([q1, q2]);
    expect(acks).toEqual(expect.arrayContaining(['puback', 'pubrec', 'pubcomp']));
    expect(acks.indexOf('pubrec')).toBeLessThan(acks.indexOf('pubcomp'));
    expect((values('dev-q') as number[]).sort()).toEqual([0, 1, 2]);
  } finally {
    release(); // else, after a failed expectation, closing would wait for the held appends
    await Promise.all([app.endAsync(), dev.endAsync()]);
  }
});

/** A bare MQTT 3.1.1 client over a socket, so that the test chooses packet ids and the DUP flag itself. */
class RawClient {
  private buffer = Buffer.alloc(0);
  private readonly packets: Buffer[] = [];
  private waiter: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const p = takePacket(this.buffer);
        if (p === undefined) break;
        this.packets.push(p.packet);
        this.buffer = this.buffer.subarray(p.length);
      }
      this.waiter?.();
    });
  }

  static async connect(port: number, clientId: string): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawClient(socket);
    socket.write(rawConnect(clientId));
    expect(await c.next()).toEqual(Buffer.from([0x20, 2, 0, 0])); // CONNACK accepted
    return c;
  }

  publishQos2(topic: string, payload: string, packetId: number, dup: boolean): void {
    const t = Buffer.from(topic);
    const head = Buffer.from([t.length >> 8, t.length & 0xff]);
    const id = Buffer.from([packetId >> 8, packetId & 0xff]);
    this.send(0x34 | (dup ? 0x08 : 0), Buffer.concat([head, t, id, Buffer.from(payload)]));
  }

  pubrel(packetId: number): void {
    this.send(0x62, Buffer.from([packetId >> 8, packetId & 0xff]));
  }

  /** The next packet the broker sent, whole. */
  async next(): Promise<Buffer> {
    while (this.packets.length === 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no packet from the broker within 5 s')), 5000);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.packets.shift()!;
  }

  close(): void {
    this.socket.destroy();
  }

  private send(header: number, body: Buffer): void {
    this.socket.write(rawPacket(header, body));
  }
}

function takePacket(buf: Buffer): { packet: Buffer; length: number } | undefined {
  let remaining = 0;
  let i = 1;
  for (let shift = 0; ; shift += 7, i++) {
    if (i >= buf.length) return undefined;
    remaining += (buf[i]! & 0x7f) << shift;
    if ((buf[i]! & 0x80) === 0) break;
  }
  const length = i + 1 + remaining;
  return buf.length < length ? undefined : { packet: buf.subarray(0, length), length };
}

const pubrec = (id: number): Buffer => Buffer.from([0x50, 2, id >> 8, id & 0xff]);
const pubcomp = (id: number): Buffer => Buffer.from([0x70, 2, id >> 8, id & 0xff]);

test('QoS 2: a re-sent PUBLISH (DUP) is acknowledged again but stored once; a packet id used again after PUBCOMP is a new message', async () => {
  h = await startBroker({ listeners, topics });
  const dev = await RawClient.connect(portOf(h, 'tcp'), 'dev-dup');
  try {
    dev.publishQos2('sensors/dev-dup/t', '1', 7, false);
    expect(await dev.next()).toEqual(pubrec(7));
    // The device did not see the PUBREC (as far as it knows) and sends the message again.
    dev.publishQos2('sensors/dev-dup/t', '1', 7, true);
    expect(await dev.next()).toEqual(pubrec(7));
    dev.pubrel(7);
    expect(await dev.next()).toEqual(pubcomp(7));
    expect(values('dev-dup')).toEqual([1]);

    dev.publishQos2('sensors/dev-dup/t', '2', 7, false);
    expect(await dev.next()).toEqual(pubrec(7));
    dev.pubrel(7);
    expect(await dev.next()).toEqual(pubcomp(7));
    expect(values('dev-dup')).toEqual([1, 2]);
  } finally {
    dev.close();
  }
});
