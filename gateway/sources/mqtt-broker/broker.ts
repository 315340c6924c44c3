// The embedded broker source: aedes behind our listeners, its hooks wired to the CONNECT decision (auth.ts),
// the publish steps (publish.ts) and one append per event-loop turn, so a QoS 1/2 acknowledgement means "on disk".
import { Aedes, type AuthenticateError, type Client, type Subscription } from 'aedes';
import type { ComponentDeps, ComponentHealth, Source, SourceContext } from '../../components.js';
import { failedHealth } from '../../components.js';
import { SluiceError, errorMessage, isSluiceError } from '../../errors.js';
import { RateLimitedLog } from '../../observe/log.js';
import { IngestBatcher } from '../ingest-batcher.js';
import { TopicMapper } from '../mqtt/mapping.js';
import { Acl } from './acl.js';
import { limitPacketSize, onBrokerError, readWholeBuffer } from './aedes-internals.js';
import { Authenticator } from './auth.js';
import type { MqttBrokerConfig } from './schema.js';
import { ConnectionGate, Listeners, isLoopback, type ListenerInfo } from './listeners.js';
import { handlePublish, type PublishSteps } from './publish.js';

export class MqttBrokerSource implements Source {
  readonly type = 'mqtt_broker';
  private ctx: SourceContext | undefined;
  private broker: Aedes | undefined;
  private listeners: Listeners | undefined;
  private readonly gate: ConnectionGate;
  private readonly acl: Acl;
  private readonly auth: Authenticator;
  /** Every message of one event-loop turn goes to the queue in one append (see IngestBatcher `turn`). */
  private readonly batcher: IngestBatcher;
  private readonly publish: PublishSteps;
  /** The listener each connection came in on (keyed by the socket or WebSocket stream aedes is handed). */
  private readonly listenerOf = new WeakMap<object, ListenerInfo>();
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
    this.auth = new Authenticator(config, this.acl, {
      denied: (reason, clientId, fields) => this.denied(reason, clientId, fields),
      authenticated: (who, listener) =>
        this.context().log.debug(
          { client: who.clientId, username: who.username, listener: listener.label },
          'client authenticated',
        ),
    });
    this.batcher = new IngestBatcher(
      (readings, options) => this.context().ingest(readings, options),
      { gather: 'turn', split: { kind: 'parts_on_refusal' } },
      {
        appended: () => this.succeeded(),
        failed: (readings, err, clientId) => this.failed(err, clientId ?? '-', readings),
      },
    );
    const mapper = new TopicMapper(config, name);
    this.publish = {
      acl: this.acl,
      mapper,
      batcher: this.batcher,
      identityOf: (client) => this.auth.identityOf(client),
      broker: () => this.aedes(),
      context: () => this.context(),
      denied: (reason, clientId, fields) => this.denied(reason, clientId, fields),
    };
  }

  /** The bound listeners, with the ports they got (tests and logs). */
  get bound(): readonly ListenerInfo[] {
    return this.listeners?.bound ?? [];
  }

  async start(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    this.limited = new RateLimitedLog(ctx.log);
    this.auth.loadUsers();
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
        this.auth.preConnect(client, packet);
        done(null, true);
      },
      authenticate: (client, username, password, done) => {
        this.auth.authenticate(client, this.listenerOf.get(client.conn), username, password).then(
          () => done(null, true),
          (err: AuthenticateError) => done(err, false),
        );
      },
      authorizePublish: (client, packet, done) => handlePublish(this.publish, client, packet, done),
      authorizeSubscribe: (client, sub, done) => done(null, this.authorizeSubscribe(client, sub)),
    });
    this.broker = broker;
    broker.on('clientError', (client, err) => this.clientError(client.id, err));
    broker.on('connectionError', (_client, err) => this.clientError(undefined, err));
    onBrokerError(broker, (err) => {
      ctx.metrics.error('broker', 'internal');
      ctx.log.error({ err: errorMessage(err) }, 'broker error');
    });
    this.listeners = new Listeners(
      this.config.listeners,
      this.gate,
      (conn, listener, req) => {
        this.listenerOf.set(conn, listener);
        readWholeBuffer(conn);
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
        users: this.auth.userCount,
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
    await this.batcher.drain();
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

  private authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const who = this.auth.identityOf(client);
    if (who === undefined || sub.topic.startsWith('$SLUICE/') || !this.acl.canSubscribe(who, sub.topic)) {
      this.denied('subscribe_not_authorized', client.id, { topic: sub.topic });
      return null; // SUBACK 0x80 for this filter; the connection stays.
    }
    return sub;
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

  private aedes(): Aedes {
    if (!this.broker) throw new SluiceError('SLUICE_INTERNAL', `source ${this.name} used before start()`);
    return this.broker;
  }
}
