// What the operator commands share: fleet broker options, the connection, and a live view of the statuses
// that gateways publish (retained, so a fresh subscriber sees every gateway at once).
import mqtt, { type MqttClient } from 'mqtt';
import { SluiceError, errorMessage } from '../../errors.js';
import type { FleetStatus } from '../../fleet/agent.js';
import { credentials, fleetTopics } from '../../fleet/mqtt-channel.js';

/** parseArgs options of every command that talks to the fleet broker. */
export const brokerOptions = {
  broker: { type: 'string' },
  prefix: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  'key-file': { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
} as const;

export const BROKER_HELP = `  --broker URL          fleet broker (mqtt://, mqtts://, ws://, wss://)
  --prefix TOPIC        topic prefix (default sluice/fleet)
  --ca FILE, --cert FILE, --key-file FILE, --username NAME, --password-file FILE   TLS and credentials`;

export interface BrokerArgs {
  broker?: string | undefined;
  prefix?: string | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  'key-file'?: string | undefined;
  username?: string | undefined;
  'password-file'?: string | undefined;
}

export interface GatewaySeen {
  status: FleetStatus | undefined;
  online: boolean | undefined;
}

/** A connection to the fleet broker that keeps the latest status and presence of every gateway. */
export class FleetView {
  readonly gateways = new Map<string, GatewaySeen>();
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly client: MqttClient,
    readonly prefix: string,
  ) {}

  static async connect(args: BrokerArgs): Promise<FleetView> {
    if (!args.broker)
      throw new SluiceError('SLUICE_USAGE', '--broker is required', { hint: '--broker mqtt://fleet:1883' });
    const prefix = args.prefix ?? 'sluice/fleet';
    let client: MqttClient;
    try {
      client = await mqtt.connectAsync(args.broker, {
        clientId: `sluice-ops-${process.pid}-${Date.now().toString(36)}`,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        ...credentials({
          username: args.username,
          password_file: args['password-file'],
          tls: { ca_file: args.ca, cert_file: args.cert, key_file: args['key-file'], verify_hostname: true },
        }),
      });
    } catch (err) {
      throw new SluiceError(
        'SLUICE_UPSTREAM_UNREACHABLE',
        `cannot connect to ${args.broker}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const view = new FleetView(client, prefix);
    const statusRe = new RegExp(`^${escapeRe(prefix)}/gateways/([^/]+)/(status|presence)$`);
    client.on('message', (topic, payload) => {
      const m = statusRe.exec(topic);
      const id = m?.[1];
      if (!m || id === undefined || payload.length === 0) return;
      const seen = view.gateways.get(id) ?? { status: undefined, online: undefined };
      if (m[2] === 'presence') seen.online = payload.toString() === 'online';
      else {
        try {
          seen.status = JSON.parse(payload.toString()) as FleetStatus;
        } catch (err) {
          process.stderr.write(`sluice: ignoring an unreadable status on ${topic}: ${errorMessage(err)}\n`);
          return;
        }
      }
      view.gateways.set(id, seen);
      for (const w of view.waiters) w();
    });
    client.on('error', (err) => process.stderr.write(`sluice: fleet broker: ${err.message}\n`));
    await client.subscribeAsync([fleetTopics.status(prefix, '+'), fleetTopics.presence(prefix, '+')], {
      qos: 1,
    });
    return view;
  }

  /** Resolves with the first value `pick` returns, re-checked on every status; undefined on timeout. */
  waitFor<T>(pick: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const check = (): void => {
        const v = pick();
        if (v === undefined) return;
        done();
        resolve(v);
      };
      const timer = setTimeout(() => {
        done();
        resolve(undefined);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Lets retained statuses arrive: returns after `ms` without news. */
  async settle(ms: number): Promise<void> {
    for (;;) {
      const before = this.gateways.size;
      await new Promise((r) => setTimeout(r, ms));
      if (this.gateways.size === before) return;
    }
  }

  async publishRetained(topic: string, payload: string): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain: true });
  }

  close(): Promise<void> {
    return this.client.endAsync();
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
