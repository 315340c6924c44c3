// Every use of aedes or mqtt-packet internals (private fields, a patched parser step, an untyped event) in
// one room: each says why and what it was read against; test/sources/mqtt-broker/aedes-internals.test.ts
// guards each, so an upgrade that moves one fails there, by name, before any broker test.
import type { Aedes, Client, PublishPacket } from 'aedes';
import type { EventEmitter } from 'node:events';
import { Readable, type Duplex } from 'node:stream';
import { SluiceError } from '../../errors.js';

/** The versions whose sources the code below was read against (package.json of each, in node_modules). */
export const CHECKED_AGAINST = { aedes: '1.2.0', 'mqtt-packet': '9.0.2' } as const;

/**
 * The aedes persistence call the QoS 2 dedup uses. `Aedes.persistence` is not in aedes' typings (only the
 * `persistence?: any` option is); aedes 1.2.0 lib/handlers/publish.js enqueuePublish calls it the same way
 * ([MQTT-4.3.3-2]: resolves with the stored packet, rejects when the message id is not stored).
 */
interface IncomingStore {
  incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown>;
}

function incomingStore(broker: Aedes): IncomingStore {
  const store = (broker as unknown as { persistence?: Partial<IncomingStore> }).persistence;
  if (typeof store?.incomingGetPacket !== 'function') {
    throw new SluiceError('SLUICE_INTERNAL', 'this aedes version has no persistence.incomingGetPacket');
  }
  return store as IncomingStore;
}

/**
 * Whether the first copy of this QoS 2 PUBLISH (same client, same message id) is already stored, i.e. this
 * is a retransmission that aedes will only answer with PUBREC. Read before aedes' own check, so that only
 * first copies are appended to the queue (exactly once into the queue).
 */
export function isStoredQos2(broker: Aedes, client: Client, packet: PublishPacket): Promise<boolean> {
  return incomingStore(broker)
    .incomingGetPacket(client, packet)
    .then(
      () => true,
      () => false,
    );
}

/**
 * Listens to the broker's `error` event (persistence failures: aedes 1.2.0 aedes.js emits it, in
 * `broker.emit('error', err)`), which aedes' typed events leave out; an upcast to EventEmitter reaches it.
 */
export function onBrokerError(broker: Aedes, listener: (err: Error) => void): void {
  (broker as EventEmitter).on('error', listener);
}

/** The parts of mqtt-packet's parser (aedes keeps one per client as `_parser`) that the size limit uses. */
interface PacketParser {
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

function isPacketParser(p: unknown): p is PacketParser {
  const o = p as Partial<PacketParser> | null | undefined;
  return (
    typeof o?._parseLength === 'function' && typeof o._emitError === 'function' && o.packet !== undefined
  );
}

/**
 * Refuses packets over `maxBytes` as soon as their fixed header is parsed: neither aedes nor mqtt-packet has
 * a limit, and the parser buffers a whole packet (up to MQTT's 256 MiB) before handing it over. The error
 * goes the way of any protocol error (aedes 1.2.0 lib/client.js forwards the parser's 'error' to the
 * client's, which closes the connection and emits `clientError`). Wraps the remaining-length step
 * (mqtt-packet 9.0.2 parser.js `_parseLength`) of this client's parser only. False when the parser is not
 * where or what it was (the caller then closes the connection: fail closed).
 */
export function limitPacketSize(client: Client, maxBytes: number): boolean {
  const parser: unknown = (client as unknown as { _parser?: unknown })._parser;
  if (!isPacketParser(parser)) return false;
  const parseLength = parser._parseLength.bind(parser);
  parser._parseLength = () => {
    const done = parseLength();
    if (done && parser.packet.length > maxBytes) {
      parser._emitError(
        new SluiceError(
          'SLUICE_PAYLOAD_INVALID',
          `${parser.packet.cmd ?? 'packet'} of ${parser.packet.length} bytes exceeds max_packet_bytes (${maxBytes})`,
          { hint: "raise the source's max_packet_bytes if the device really sends packets this large" },
        ),
      );
      return false;
    }
    return done;
  };
  return true;
}

/**
 * Whether this Node's `readable.read()` without a size returns only the first buffered chunk. Node's docs and
 * Node 20-24 return the whole buffer; Node 26.10 returns one chunk. aedes 1.2.0 lib/client.js `nextBatch`
 * reads once per 'readable' event (`conn.read(null)`) and reads again only after the parser has emitted a
 * packet, so with one chunk per read a packet split over buffered chunks is never completed and the
 * connection hangs until connect_timeout_ms (MQTT.js over WebSocket sends its CONNECT as 9 messages).
 */
export const READ_RETURNS_ONE_CHUNK: boolean = (() => {
  const r = new Readable({ read: () => undefined });
  r.push(Buffer.alloc(1));
  r.push(Buffer.alloc(1));
  const got = r.read() as Buffer | null;
  return got?.length === 1;
})();

/**
 * Makes `conn.read()` without a size return everything buffered, as aedes expects, where this Node does not
 * (see READ_RETURNS_ONE_CHUNK; elsewhere the connection is left as it is). Reading until `null` also re-arms
 * the 'readable' event, as Node's own drain does.
 */
export function readWholeBuffer(conn: Duplex): void {
  if (!READ_RETURNS_ONE_CHUNK) return;
  const read = conn.read.bind(conn);
  conn.read = (size?: number): unknown => {
    if (size !== undefined && size !== null) return read(size);
    const first: unknown = read();
    if (!Buffer.isBuffer(first)) return first;
    const chunks: Buffer[] = [first];
    for (let next: unknown = read(); Buffer.isBuffer(next); next = read()) chunks.push(next);
    return chunks.length === 1 ? first : Buffer.concat(chunks);
  };
}
