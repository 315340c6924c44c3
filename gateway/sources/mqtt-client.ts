// `mqtt`: subscribes to an existing broker (mosquitto, a site broker) with a persistent session and QoS 1, and
// acknowledges each message to that broker only once its readings are on disk here.
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { z } from 'zod';
import type {
  ComponentDefinition,
  ComponentDeps,
  ComponentHealth,
  Source,
  SourceContext,
} from '../components.js';
import { failedHealth } from '../components.js';
import { backoffSchema } from '../config/common.js';
import { credentialFields, credentialProblems, readPassword } from '../config/credentials.js';
import { clientTlsOptions, tlsClientSchema } from '../config/tls.js';
import { SluiceError, errorMessage, isSluiceError, refusedReading } from '../errors.js';
import { RateLimitedLog } from '../observe/log.js';
import { backoffDelay } from '../runtime/retry.js';
import { TopicMapper, mappingOptions } from './mqtt/mapping.js';

export const schema = z
  .strictObject({
    type: z.literal('mqtt'),
    url: z
      .string()
      .regex(
        /^(mqtts?|wss?):\/\/[^/]+/,
        'a broker URL such as mqtt://broker.local:1883, mqtts://..., ws://.../mqtt',
      )
      .describe('Broker to subscribe to.'),
    client_id: z
      .string()
      .min(1)
      .max(23)
      .optional()
      .describe(
        'MQTT client id; it names the persistent session, so it must be stable and unique. Default: `sl-<gateway id>-<source name>` cut to 23 characters.',
      ),
    ...credentialFields,
    tls: tlsClientSchema
      .optional()
      .describe('How an mqtts:// or wss:// broker is verified, and the client certificate shown to it.'),
    subscriptions: z
      .array(z.string().min(1))
      .min(1)
      .default(['sensors/#'])
      .describe('Topic filters subscribed with QoS 1 in a persistent session (clean = false).'),
    keepalive_s: z.number().int().min(0).max(65_535).default(30).describe('MQTT keepalive, in seconds.'),
    connect_timeout_ms: z.number().int().min(100).default(10_000).describe('How long to wait for CONNACK.'),
    reconnect: backoffSchema.prefault({}).describe('Jittered exponential backoff between reconnects.'),
    ...mappingOptions,
  })
  .superRefine((c, ctx) => {
    for (const p of credentialProblems(c, false)) ctx.addIssue({ code: 'custom', ...p, path: [...p.path] });
  })
  .describe('MQTT client of an existing broker; messages are acknowledged after the durable append.');

export type MqttClientConfig = z.output<typeof schema>;

export class MqttClientSource implements Source {
  readonly type = 'mqtt';
  private client: MqttClient | undefined;
  private ctx: SourceContext | undefined;
  private limited: RateLimitedLog | undefined;
  private readonly mapper: TopicMapper;
  private readonly clientId: string;
  private readonly inflight = new Set<Promise<unknown>>();
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private status: ComponentHealth = { state: 'starting' };

  constructor(
    readonly name: string,
    private readonly config: MqttClientConfig,
    deps: ComponentDeps,
  ) {
    this.mapper = new TopicMapper(config, name);
    // MQTT 3.1.1 brokers must accept ids of up to 23 characters [MQTT-3.1.3-5]; longer ones may be refused.
    this.clientId = config.client_id ?? `sl-${deps.gatewayId}-${name}`.slice(0, 23);
  }

  start(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    this.limited = new RateLimitedLog(ctx.log);
    const c = this.config;
    const password = readPassword(c);
    const options: IClientOptions = {
      clientId: this.clientId,
      clean: false,
      protocolVersion: 4,
      keepalive: c.keepalive_s,
      connectTimeout: c.connect_timeout_ms,
      // Reconnects are ours (jittered backoff); MQTT.js only knows a fixed period.
      reconnectPeriod: 0,
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(password !== undefined ? { password } : {}),
      // Used only when the URL is mqtts:// or wss:// (MQTT.js decides TLS by the scheme).
      ...(c.tls !== undefined ? clientTlsOptions(c.tls) : {}),
    };
    const client = mqtt.connect(c.url, options);
    this.client = client;
    // MQTT.js sends the QoS 1 PUBACK in handleMessage's callback (lib/handlers/publish.js, `case 1`), so the
    // callback waits for the durable append. (customHandleAcks is only consulted for MQTT 5.)
    client.handleMessage = (packet, done) => this.onMessage(packet, done);
    client.on('connect', (connack) => {
      this.attempts = 0;
      this.status = {
        state: 'healthy',
        detail: `connected to ${c.url} as ${this.clientId}`,
        lastSuccessAt: Date.now(),
      };
      ctx.log.info(
        { url: c.url, client_id: this.clientId, session_present: connack.sessionPresent },
        'connected to mqtt broker',
      );
      client.subscribe(c.subscriptions, { qos: 1 }, (err, granted) => {
        if (err) {
          ctx.metrics.error('subscribe', 'error');
          this.limited?.warn('subscribe', { err: err.message }, 'subscribe failed');
          return;
        }
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (refused.length > 0) {
          ctx.metrics.error('subscribe', 'refused');
          ctx.log.error({ topics: refused }, 'the broker refused these subscriptions (ACL?)');
        }
      });
    });
    client.on('close', () => this.scheduleReconnect());
    client.on('error', (err) => {
      ctx.metrics.error('connect', 'error');
      this.status = failedHealth('degraded', err, 'SLUICE_UPSTREAM_UNREACHABLE');
      this.limited?.warn(`error/${err.message}`, { err: err.message, url: c.url }, 'mqtt client error');
    });
    return Promise.resolve();
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer !== undefined) return;
    const delay = backoffDelay(this.attempts++, this.config.reconnect);
    if (this.status.state === 'healthy')
      this.status = { state: 'degraded', detail: `disconnected from ${this.config.url}; reconnecting` };
    this.ctx?.log.debug({ delay_ms: delay }, 'reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closing) this.client?.reconnect();
    }, delay);
  }

  private onMessage(packet: IPublishPacket, done: (err?: Error) => void): void {
    const ctx = this.context();
    // While closing, leave new messages unacknowledged: the broker keeps them for our session.
    if (this.closing) return;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const result = this.mapper.map(packet.topic, payload, undefined);
    if (result.kind === 'unmatched') return done();
    if (result.kind === 'rejected') {
      ctx.reject(result.reason, result.device, result.detail);
      return done();
    }
    ctx.metrics.received(result.readings.length, payload.length);
    const p = ctx.ingest(result.readings).then(
      () => {
        done();
      },
      (err: unknown) => {
        const code = isSluiceError(err) ? err.code : 'SLUICE_INTERNAL';
        ctx.metrics.error('ingest', code);
        const refused = isSluiceError(err) ? refusedReading(err) : undefined;
        if (refused !== undefined) {
          // A reading that can never be stored: acknowledged so that it is not re-sent, counted.
          ctx.reject(refused, result.device, (err as SluiceError).message);
          return done();
        }
        if (packet.qos === 0) {
          ctx.metrics.discarded(
            result.readings.length,
            code === 'SLUICE_QUEUE_FULL' ? 'queue_full' : 'ingest_error',
          );
          return done();
        }
        // No PUBACK: drop the connection so that the broker re-sends it to our session after the backoff.
        this.status = failedHealth('degraded', err);
        this.limited?.warn(
          `ingest/${code}`,
          { err: errorMessage(err) },
          'readings not queued; acknowledgement withheld, reconnecting',
        );
        this.client?.stream.destroy();
      },
    );
    if (packet.qos === 0) done();
    this.inflight.add(p);
    p.finally(() => this.inflight.delete(p)).catch((err: unknown) =>
      ctx.log.error({ err: errorMessage(err) }, 'ingest bookkeeping failed'),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    const client = this.client;
    if (client) {
      // DISCONNECT keeps the persistent session on the broker; force after a while if the broker is gone.
      await Promise.race([
        client.endAsync(false),
        new Promise((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
      if (!client.disconnected) await client.endAsync(true);
    }
    this.status = { state: 'stopped' };
  }

  health(): ComponentHealth {
    return this.status;
  }

  private context(): SourceContext {
    if (!this.ctx) throw new SluiceError('SLUICE_INTERNAL', `source ${this.name} used before start()`);
    return this.ctx;
  }
}

export const mqttClient: ComponentDefinition<typeof schema, Source> = {
  type: 'mqtt',
  description:
    'Subscribes to an existing MQTT broker (persistent session, QoS 1); acknowledges after the durable append.',
  schema,
  create: (name: string, config: MqttClientConfig, deps: ComponentDeps) =>
    new MqttClientSource(name, config, deps),
};
