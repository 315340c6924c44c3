// The MQTT fleet channel: subscribes to the gateway's retained config topic and to those of its groups, hands
// every bundle to the agent, and publishes a retained status on every change and every heartbeat. A retained
// `offline` presence is the Last Will, so a gateway that vanishes is marked at once.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { FleetMqttConfig } from '../config/bootstrap-schema.js';
import { readPassword, type Credentials } from '../config/credentials.js';
import { clientTlsOptions, type TlsClientConfig } from '../config/tls.js';
import { errorMessage } from '../errors.js';
import type { ChannelStatus } from '../status.js';
import { backoffDelay } from '../runtime/retry.js';
import type { FleetAgent, FleetStatus } from './agent.js';
import { ChannelState } from './channel-state.js';

/** The topic layout, shared with the operator CLI. */
export const fleetTopics = {
  gatewayConfig: (prefix: string, id: string): string => `${prefix}/gateways/${id}/config`,
  groupConfig: (prefix: string, label: string): string => `${prefix}/groups/${label}/config`,
  status: (prefix: string, id: string): string => `${prefix}/gateways/${id}/status`,
  presence: (prefix: string, id: string): string => `${prefix}/gateways/${id}/presence`,
};

/** What a connection to the fleet broker authenticates with: the channel's config, or the operator's flags. */
export interface FleetBrokerSecurity extends Credentials {
  readonly tls?: TlsClientConfig | undefined;
}

/** Credentials and TLS material for MQTT.js, read from the files the config names (never logged). */
export function credentials(c: FleetBrokerSecurity): IClientOptions {
  const password = readPassword(c);
  return {
    ...(c.username !== undefined ? { username: c.username } : {}),
    ...(password !== undefined ? { password } : {}),
    // Used only when the URL is mqtts:// or wss:// (MQTT.js decides TLS by the scheme).
    ...(c.tls !== undefined ? clientTlsOptions(c.tls) : {}),
  };
}

export class MqttChannel {
  private client: MqttClient | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly onStatus = (s: FleetStatus): void => this.publishStatus(s);
  private readonly state: ChannelState;

  constructor(
    private readonly agent: FleetAgent,
    private readonly config: FleetMqttConfig,
    private readonly gatewayId: string,
    private readonly labels: readonly string[],
    private readonly log: Logger,
  ) {
    this.state = new ChannelState('mqtt', config.url, log);
  }

  status(): ChannelStatus {
    return this.state.status();
  }

  start(): void {
    const c = this.config;
    const p = c.topic_prefix;
    const presence = fleetTopics.presence(p, this.gatewayId);
    const client = mqtt.connect(c.url, {
      clientId: c.client_id ?? `sluice-fleet-${this.gatewayId}`,
      clean: true,
      keepalive: c.keepalive_s,
      connectTimeout: c.connect_timeout_ms,
      reconnectPeriod: c.reconnect_period_ms,
      will: { topic: presence, payload: Buffer.from('offline'), qos: 1, retain: true },
      ...credentials(c),
    });
    this.client = client;
    const topics = [
      fleetTopics.gatewayConfig(p, this.gatewayId),
      ...this.labels.map((l) => fleetTopics.groupConfig(p, l)),
    ];
    // Reconnects back off from reconnect_period_ms up to ten times it (a broker down for hours is not
    // hammered); prepended so that MQTT.js schedules the coming reconnect with the new period.
    const backoff = {
      initial_ms: c.reconnect_period_ms,
      max_ms: c.reconnect_period_ms * 10,
      multiplier: 2,
    };
    client.prependListener('close', () => {
      if (this.client !== client) return; // stopped
      const delay = backoffDelay(this.state.failures, backoff);
      client.options.reconnectPeriod = delay;
      this.state.failed(delay);
    });
    client.on('connect', () => {
      this.state.succeeded();
      client.options.reconnectPeriod = c.reconnect_period_ms;
      this.log.info({ url: c.url, topics }, 'connected to the fleet broker');
      client.publish(presence, 'online', { qos: 1, retain: true }, (err) => {
        if (err) this.log.warn({ err: err.message }, 'publishing presence failed');
      });
      client.subscribe(topics, { qos: 1 }, (err, granted) => {
        if (err) this.log.error({ err: err.message }, 'subscribing to fleet topics failed');
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (refused.length > 0) this.log.error({ topics: refused }, 'the fleet broker refused subscriptions');
      });
      this.publishStatus(this.agent.status());
    });
    client.on('message', (topic, payload, packet) => {
      if (payload.length === 0) return; // a cleared retained message: nothing to apply
      if (payload.length > this.agent.maxBundleBytes) {
        // Refused on its length alone: never turned into text, parsed or verified.
        this.agent
          .rejectOversized(payload.length, { origin: 'mqtt', replay: packet.retain })
          .catch((err: unknown) =>
            this.log.error({ topic, err: errorMessage(err) }, 'reporting a bundle failed'),
          );
        return;
      }
      // The retain flag is set only on a retained message sent because of a new subscription, never on a live
      // forward [MQTT-3.3.1-8] [MQTT-3.3.1-9]: it tells a replay of history from a push.
      this.agent.submit(payload.toString('utf8'), { origin: 'mqtt', replay: packet.retain }).then(
        (r) => r && this.log.debug({ topic, outcome: r.outcome }, 'bundle handled'),
        (err: unknown) => this.log.error({ topic, err: errorMessage(err) }, 'handling a bundle failed'),
      );
    });
    // Every failed attempt gives an 'error' then a 'close': the state logs them (rate-limited).
    client.on('error', (err) => {
      this.state.error(err.message);
      this.log.debug({ err: err.message }, 'fleet broker connection error');
    });
    this.agent.on('status', this.onStatus);
    this.heartbeat = setInterval(() => this.publishStatus(this.agent.status()), c.heartbeat_interval_ms);
  }

  private publishStatus(s: FleetStatus): void {
    const client = this.client;
    if (!client?.connected) return; // the next connect publishes the status afresh
    client.publish(
      fleetTopics.status(this.config.topic_prefix, this.gatewayId),
      JSON.stringify(s),
      { qos: 1, retain: true },
      (err) => {
        if (err) this.log.warn({ err: err.message }, 'publishing status failed');
      },
    );
  }

  /** Publishes a last status and an `offline` presence, then disconnects. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    this.agent.off('status', this.onStatus);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (client.connected) {
      const p = this.config.topic_prefix;
      const publish = (topic: string, text: string): Promise<unknown> =>
        client.publishAsync(topic, text, { qos: 1, retain: true }).catch((err: unknown) => {
          this.log.warn({ err: errorMessage(err) }, 'publishing the final status failed');
        });
      await publish(fleetTopics.status(p, this.gatewayId), JSON.stringify(this.agent.status()));
      await publish(fleetTopics.presence(p, this.gatewayId), 'offline');
    }
    await client.endAsync();
  }
}
