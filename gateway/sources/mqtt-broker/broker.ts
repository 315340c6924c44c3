// The embedded broker source: aedes behind our listeners, with authentication, ACLs and the durable ingest
// wired into aedes' hooks so that a QoS 1/2 acknowledgement means "on disk".
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { EventEmitter } from 'node:events';
import { TLSSocket } from 'node:tls';
import type { ComponentDeps, ComponentHealth, Source, SourceContext } from '../../components.js';
import { failedHealth } from '../../components.js';
import { SluiceError, errorMessage, isSluiceError, toSluiceError } from '../../errors.js';
import { RateLimitedLog } from '../../observe/log.js';
import type { Reading } from '../../reading.js';
import { Acl, clientIdAllowed, readPasswordFile, verifyPassword, type Identity } from './auth.js';
import type { MqttBrokerConfig } from './schema.js';
import { ConnectionGate, Listeners, isLoopback, type ListenerInfo } from './listeners.js';
import { TopicMapper } from './mapping.js';

/**
 * Where a denied publish is diverted. MQTT 3.1.1 has no negative PUBACK; like Mosquitto 2.0 we acknowledge
 * and drop it, so a misconfigured device does not loop on reconnect-and-retransmit. aedes has no
 * "ack but drop" outcome, so the packet is re-addressed to a `$` topic that no `#`/`+` filter matches
 * ([MQTT-4.7.2-1], aedes lib/handlers/subscribe.js blockDollarSignTopics) and that nobody may subscribe to.
 */
const DENIED_TOPIC = '$SLUICE/denied';
/** A hash of a password nobody has, checked when the username is unknown so that timing does not tell. */
const DUMMY_HASH =
  '$scrypt$ln=14,r=8,p=1$c2x1aWNlLWR1bW15LXNhbHQ=$ZHVtbXlkdW1teWR1bW15ZHVtbXlkdW1teWR1bW15ZHU=';

/** The aedes persistence calls we use (not in aedes' typings); the in-memory default implements them. */
interface IncomingStore {
  incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown>;
}

/** Called once: with no error when the readings are on disk, else with why not (never `undefined`). */
type Settle = (err?: SluiceError) => void;

interface BatchPart {
  readonly readings: readonly Reading[];
  readonly bytes: number;
  readonly clientId: string;
  readonly settled: Settle;
}

function refusal(returnCode: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

export class MqttBrokerSource implements Source {
  readonly type = 'mqtt_broker';
  private ctx: SourceContext | undefined;
  private broker: Aedes | undefined;
  private listeners: Listeners | undefined;
  private readonly gate: ConnectionGate;
  private readonly acl: Acl;
  private readonly mapper: TopicMapper;
  private users = new Map<string, string>();
  private longestUsername = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  /** The listener each connection came in on (keyed by the socket or WebSocket stream aedes is handed). */
  private readonly listenerOf = new WeakMap<object, ListenerInfo>();
  private readonly willTopic = new WeakMap<Client, string>();
  /** Clients whose CONNECT had an empty client id that MQTT 3.1/3.1.1 does not allow (see preConnect). */
  private readonly emptyIdRefused = new WeakSet<Client>();
  private readonly identity = new WeakMap<Client, Identity>();
  /** Readings of this tick waiting for their shared append (see `ingest`). */
  private batch: { readings: Reading[]; bytes: number; parts: BatchPart[] } | undefined;
  private limited: RateLimitedLog | undefined;
  private status: ComponentHealth = { state: 'starting' };

  constructor(
    readonly name: string,
    private readonly config: MqttBrokerConfig,
    _deps: ComponentDeps,
  ) {
    this.gate = new ConnectionGate({
      maxConnections: config.max_connections,
      maxConnectionsPerIp: config.max_connections_per_ip,
      ratePerS: config.connect_rate_per_s,
      burst: config.connect_burst,
    });
    this.acl = new Acl(config.acl);
    this.mapper = new TopicMapper(config, name);
  }

  /** The bound listeners, with the ports they got (tests and logs). */
  get bound(): readonly ListenerInfo[] {
    return this.listeners?.bound ?? [];
  }

  async start(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    this.limited = new RateLimitedLog(ctx.log);
    this.users = new Map(Object.entries(this.config.users));
    if (this.config.password_file !== undefined) {
      for (const [user, hash] of readPasswordFile(this.config.password_file)) this.users.set(user, hash);
    }
    for (const u of this.users.keys()) this.longestUsername = Math.max(this.longestUsername, u.length);
    if (
      this.config.client_id_binding === 'none' &&
      this.config.acl?.some((r) => [...r.publish, ...r.subscribe].some((f) => f.includes('%c')))
    ) {
      ctx.log.warn(
        { source: this.name },
        "acl uses %c but client ids are not bound to users: a device can connect with another one's id and publish as it; use %u, or set client_id_binding",
      );
    }
    for (const l of this.config.listeners) {
      if (l.allow_anonymous && !isLoopback(l.host)) {
        ctx.log.warn(
          { listener: `${l.type}://${l.host}:${l.port}` },
          'anonymous clients are allowed on a non-loopback listener',
        );
      }
    }
    const broker = await Aedes.createBroker({
      connectTimeout: this.config.connect_timeout_ms,
      preConnect: (client, packet, done) => {
        if (packet.will) this.willTopic.set(client, packet.will.topic);
        // aedes assigns an id to every empty one. MQTT 3.1 wants 1 to 23 characters; 3.1.1 allows an empty
        // id only with clean session 1: "If the Client supplies a zero-byte ClientId with CleanSession set to
        // 0, the Server MUST respond to the CONNECT Packet with a CONNACK return code 0x02 (Identifier
        // rejected)" [MQTT-3.1.3-8]. Refused in `authenticate`, the first hook that can answer with a CONNACK
        // code, before aedes registers the client. MQTT 5 allows it with either Clean Start [MQTT-3.1.3-6]
        // (aedes 1.2 refuses MQTT 5 before this with CONNACK 1, unacceptable protocol version).
        const v = packet.protocolVersion;
        if (packet.clientId === '' && (v === 3 || (v === 4 && packet.clean === false)))
          this.emptyIdRefused.add(client);
        done(null, true);
      },
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password).then(
          () => done(null, true),
          (err: AuthenticateError) => done(err, false),
        );
      },
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => done(null, this.authorizeSubscribe(client, sub)),
    });
    this.broker = broker;
    broker.on('clientError', (client, err) => this.clientError(client.id, err));
    broker.on('connectionError', (_client, err) => this.clientError(undefined, err));
    // 'error' (persistence failures) is missing from aedes' typed events, but emitted: an upcast reaches it.
    (broker as EventEmitter).on('error', (err: Error) => {
      ctx.metrics.error('broker', 'internal');
      ctx.log.error({ err: errorMessage(err) }, 'broker error');
    });
    this.listeners = new Listeners(
      this.config.listeners,
      this.gate,
      (conn, listener, req) => {
        this.listenerOf.set(conn, listener);
        if (!limitPacketSize(broker.handle(conn, req), this.config.max_packet_bytes)) {
          // Fail closed: an unlimited connection could be made to buffer 256 MiB. Only an aedes upgrade
          // that moved its parser gets here, and the packet-size test says so first.
          ctx.metrics.error('connect', 'SLUICE_INTERNAL');
          this.limited?.warn(
            'packet-limit',
            { listener: listener.label },
            'cannot limit the packet size of this aedes version: connection closed',
          );
          conn.destroy();
        }
      },
      (verdict, listener, remote) => {
        ctx.metrics.error('connect', verdict);
        this.limited?.warn(
          `refused/${verdict}`,
          {
            reason: verdict,
            remote,
            listener: `${listener.host}:${listener.port}`,
            connections: this.gate.connections,
          },
          'connection refused',
        );
      },
      (err, listener) => {
        ctx.metrics.error('listener', (err as NodeJS.ErrnoException).code ?? 'error');
        this.limited?.warn(
          `listener/${listener.type}/${err.message}`,
          { err: err.message, listener: `${listener.host}:${listener.port}` },
          'listener error',
        );
      },
    );
    try {
      await this.listeners.start();
    } catch (err) {
      await new Promise<void>((resolve) => broker.close(resolve));
      throw err;
    }
    ctx.log.info(
      {
        listeners: this.bound.map((l) => l.label),
        users: this.users.size,
        acl: this.config.acl !== undefined,
      },
      'mqtt broker listening',
    );
    this.status = { state: 'healthy', detail: `listening on ${this.bound.map((l) => l.label).join(', ')}` };
  }

  async close(): Promise<void> {
    await this.listeners?.close();
    const broker = this.broker;
    if (broker) await new Promise<void>((resolve) => broker.close(resolve));
    // Ingests already started still commit (their clients got no PUBACK and will re-send: at least once),
    // including a batch still gathering for the end of this turn.
    this.flushBatch();
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    this.status = { state: 'stopped' };
  }

  health(): ComponentHealth {
    if (this.status.state !== 'healthy' && this.status.state !== 'degraded') return this.status;
    const clients = this.broker?.connectedClients ?? 0;
    return {
      ...this.status,
      detail: `${clients} clients; listening on ${this.bound.map((l) => l.label).join(', ')}`,
    };
  }

  private async authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<void> {
    const ctx = this.context();
    const listener = this.listenerOf.get(client.conn);
    if (!listener) throw refusal(3, 'connection from an unknown listener');
    if (this.emptyIdRefused.has(client)) {
      this.denied('empty_client_id', undefined, { username, listener: listener.label });
      throw refusal(2, 'identifier rejected: empty client id (MQTT 3.1.1 allows it only with clean session)');
    }
    const cn = certificateCn(client);
    let who: Identity;
    if (username !== undefined) {
      const hash = this.users.get(username);
      const ok = await verifyPassword(password ?? Buffer.alloc(0), hash ?? DUMMY_HASH);
      if (!ok || hash === undefined) {
        this.denied('bad_credentials', client.id, { username, listener: listener.label });
        throw refusal(4, 'bad user name or password');
      }
      const binding = this.config.client_id_binding;
      if (!clientIdAllowed(binding, username, client.id, this.users, this.longestUsername)) {
        this.denied('client_id_not_bound', client.id, { username, binding, listener: listener.label });
        throw refusal(2, `identifier rejected: client id is not bound to user ${username} (${binding})`);
      }
      who = { clientId: client.id, username };
    } else if (cn !== undefined) {
      // A client certificate authenticates the client whose id is its CN, and no other.
      if (cn !== client.id) {
        this.denied('certificate_cn_mismatch', client.id, { cn, listener: listener.label });
        throw refusal(5, 'certificate CN does not match the client id');
      }
      who = { clientId: client.id, username: cn };
    } else if (listener.config.allow_anonymous) {
      who = { clientId: client.id, username: undefined };
    } else {
      this.denied('anonymous', client.id, { listener: listener.label });
      throw refusal(5, 'not authorized');
    }
    // The Last Will is a publish like any other: refused at CONNECT (as Mosquitto does), not dropped later.
    const will = this.willTopic.get(client);
    if (will !== undefined && !this.acl.canPublish(who, will)) {
      this.denied('will_not_authorized', client.id, { topic: will });
      throw refusal(5, 'not authorized to publish the Last Will topic');
    }
    this.identity.set(client, who);
    ctx.log.debug(
      { client: client.id, username: who.username, listener: listener.label },
      'client authenticated',
    );
  }

  private authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const who = this.identity.get(client);
    if (who === undefined || sub.topic.startsWith('$SLUICE/') || !this.acl.canSubscribe(who, sub.topic)) {
      this.denied('subscribe_not_authorized', client.id, { topic: sub.topic });
      return null; // SUBACK 0x80 for this filter; the connection stays.
    }
    return sub;
  }

  /**
   * Runs before aedes acknowledges: aedes 1.2.0 lib/handlers/publish.js runs `publishActions =
   * [authorizePublish, enqueuePublish]` in series, and only enqueuePublish writes the QoS 1 PUBACK (`case 1:
   * write(client, new PubAck(packet), ...)`) or, for QoS 2, the PUBREC (after incomingStorePacket). So
   * calling `done` only after the append is flushed means a PUBACK/PUBREC implies "on disk".
   * `done(err)` makes aedes close the connection without any acknowledgement (lib/client.js nextBatch ->
   * 'error' -> _onError): that is the back-pressure path.
   */
  private authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (err?: Error | null) => void,
  ): void {
    const ctx = this.context();
    // aedes passes null only for Last Wills of clients of a dead broker instance (clustered persistence).
    const who = client === null ? undefined : this.identity.get(client);
    if (client === null || who === undefined)
      return done(new SluiceError('SLUICE_AUTH', 'publish without an authenticated client'));
    if (!this.acl.canPublish(who, packet.topic)) {
      this.denied('publish_not_authorized', client.id, { topic: packet.topic });
      packet.topic = DENIED_TOPIC;
      packet.retain = false;
      return done(null);
    }
    const result = this.mapper.map(packet.topic, packet.payload as Buffer, client.id);
    if (result.kind === 'unmatched') return done(null);
    if (result.kind === 'rejected') {
      // Still delivered and acknowledged: MQTT 3.1.1 cannot say "bad payload", and the stream must go on.
      ctx.reject(result.reason, result.device, result.detail);
      return done(null);
    }
    const bytes = packet.payload.length;
    if (packet.qos === 0) {
      this.ingest(result.readings, bytes, client.id, (err) => {
        if (err === undefined) return;
        ctx.metrics.discarded(
          result.readings.length,
          err.code === 'SLUICE_QUEUE_FULL' ? 'queue_full' : 'ingest_error',
        );
      });
      return done(null);
    }
    const append = (): void => {
      this.ingest(result.readings, bytes, client.id, (err) => {
        if (err === undefined) return done(null);
        if (!err.retriable) {
          // Too large for the queue or invalid: a bad message, acknowledged so that it is not re-sent.
          ctx.reject(
            err.code === 'SLUICE_READING_TOO_LARGE' ? 'too_large' : 'invalid',
            result.device,
            err.message,
          );
          return done(null);
        }
        // Queue full (reject_new) or a disk error: withhold the acknowledgement. aedes drops the connection;
        // the client re-sends the message (DUP) when it reconnects. A turn later, so that the PUBACKs of
        // this client's messages that were stored (mqtt-packet writes them corked until the next tick) are
        // on the socket before aedes destroys it.
        setImmediate(() => done(err));
      });
    };
    if (packet.qos === 2) {
      // A retransmitted QoS 2 PUBLISH whose first copy was stored gets only its PUBREC (aedes'
      // enqueuePublish dedup); append only first copies, for exactly once into the queue.
      const store = (this.broker as unknown as { persistence: IncomingStore }).persistence;
      store.incomingGetPacket(client, packet).then(
        () => done(null),
        () => append(),
      );
      return;
    }
    append();
  }

  /**
   * Queues readings for the durable append. Every message handled in the same turn of the event loop (the
   * socket chunks of every readable connection) goes into one `ctx.ingest` call at the end of the turn: one
   * queue operation and one promise per turn instead of per message or per chunk, committed right away
   * (`gathered`). `settled` gets undefined once the readings are on disk, or the error.
   */
  private ingest(readings: Reading[], bytes: number, clientId: string, settled: Settle): void {
    let batch = this.batch;
    if (batch === undefined) {
      batch = { readings: [], bytes: 0, parts: [] };
      this.batch = batch;
      setImmediate(() => this.flushBatch());
    }
    for (const r of readings) batch.readings.push(r);
    batch.bytes += bytes;
    batch.parts.push({ readings, bytes, clientId, settled });
  }

  private flushBatch(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (batch === undefined) return;
    const ctx = this.context();
    // In: what arrived from devices. Out (to the queue) is counted by ctx.ingest itself.
    ctx.metrics.received(batch.readings.length, batch.bytes);
    const p = ctx.ingest(batch.readings, { gathered: true }).then(
      () => {
        this.succeeded();
        for (const part of batch.parts) part.settled(undefined);
      },
      (cause: unknown) => {
        const err = asIngestError(cause);
        if (batch.parts.length > 1 && (!err.retriable || err.code === 'SLUICE_QUEUE_FULL')) {
          // One message spoiled the batch (e.g. larger than the queue), or the batch as a whole does not
          // fit a full queue under reject_new: append each alone (in arrival order, in one commit), so that
          // only what does not fit is refused and only its clients are dropped.
          return Promise.all(batch.parts.map((part) => this.appendAlone(part)));
        }
        this.failed(err, batch.parts[0]?.clientId ?? '-', batch.readings.length);
        for (const part of batch.parts) part.settled(err);
        return undefined;
      },
    );
    this.inflight.add(p);
    const forget = (): void => {
      this.inflight.delete(p);
    };
    p.then(forget, forget);
  }

  private appendAlone(part: BatchPart): Promise<void> {
    return this.context()
      .ingest(part.readings)
      .then(
        () => {
          this.succeeded();
          part.settled(undefined);
        },
        (cause: unknown) => {
          const err = asIngestError(cause);
          this.failed(err, part.clientId, part.readings.length);
          part.settled(err);
        },
      );
  }

  private succeeded(): void {
    if (this.status.state === 'degraded') this.status = { state: 'healthy', lastSuccessAt: Date.now() };
    else this.status = { ...this.status, lastSuccessAt: Date.now() };
  }

  private failed(err: SluiceError, clientId: string, readings: number): void {
    const ctx = this.context();
    ctx.metrics.error('ingest', err.code);
    this.status = failedHealth('degraded', err);
    this.limited?.warn(
      `ingest/${err.code}`,
      { err: errorMessage(err), client: clientId, readings },
      'readings not queued; acknowledgement withheld',
    );
  }

  private denied(reason: string, clientId: string | undefined, fields: Record<string, unknown>): void {
    this.context().metrics.error('authorize', reason);
    this.limited?.warn(
      `denied/${reason}/${clientId ?? '-'}`,
      { reason, client: clientId, ...fields },
      'mqtt client denied',
    );
  }

  private clientError(clientId: string | undefined, err: Error): void {
    const ctx = this.context();
    ctx.metrics.error('client', isSluiceError(err) ? err.code : 'protocol');
    this.limited?.warn(
      `client_error/${err.message}`,
      { client: clientId, err: err.message },
      'mqtt client disconnected on error',
    );
  }

  private context(): SourceContext {
    if (!this.ctx) throw new SluiceError('SLUICE_INTERNAL', `source ${this.name} used before start()`);
    return this.ctx;
  }
}

/** The CN of a verified client certificate, or undefined (no TLS, no certificate, or not signed by our CA). */
function certificateCn(client: Client): string | undefined {
  // TLS: the connection is the TLS socket. wss: it is a WebSocket stream over the upgraded request's socket.
  const conn = client.conn instanceof TLSSocket ? client.conn : client.req?.socket;
  if (!(conn instanceof TLSSocket) || !conn.authorized) return undefined;
  const cn = conn.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

/** The parts of mqtt-packet's parser (aedes keeps one per client as `_parser`) that the size limit uses. */
interface PacketParser {
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/**
 * Refuses packets over `maxBytes` as soon as their fixed header is parsed: neither aedes nor mqtt-packet has
 * a limit, and the parser buffers a whole packet (up to MQTT's 256 MiB) before handing it over. The error
 * goes the way of any protocol error (aedes closes the connection and emits `clientError`). Wraps the
 * remaining-length step of this client's parser only; test/sources/mqtt-broker-security.test.ts sends an
 * oversize header and fails if the limit stops working (e.g. after an aedes or mqtt-packet upgrade).
 */
function isPacketParser(p: unknown): p is PacketParser {
  const o = p as Partial<PacketParser> | null | undefined;
  return (
    typeof o?._parseLength === 'function' && typeof o._emitError === 'function' && o.packet !== undefined
  );
}

function limitPacketSize(client: Client, maxBytes: number): boolean {
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
 * What an append failed with, as a SluiceError: anything else (even a bare `undefined`) counts as a
 * retriable I/O failure, so that it can never be mistaken for success and acknowledged.
 */
function asIngestError(cause: unknown): SluiceError {
  return toSluiceError(
    cause ?? 'no reason given',
    'SLUICE_QUEUE_IO',
    'the readings could not be queued',
    true,
  );
}
