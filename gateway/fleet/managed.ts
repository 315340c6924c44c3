// Starting a gateway from its local file, fleet-managed or not: picks the config to boot with (an uncommitted
// one while it has starts left, else the last known good, else the local file alone), starts the gateway,
// the agent that applies later changes, and the fleet channels; stops them in the reverse order.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadLocalConfig, mergePipeline, type LocalConfig } from '../config/bootstrap.js';
import type { Config } from '../config/schema.js';
import { SluiceError, errorMessage } from '../errors.js';
import { createLogger } from '../observe/log.js';
import { Gateway, type GatewayOptions } from '../runtime/gateway.js';
import type { ChannelStatus } from '../status.js';
import { FleetAgent } from './agent.js';
import { loadTrustedKeys } from './bundle.js';
import { HttpChannel } from './http-channel.js';
import { MqttChannel } from './mqtt-channel.js';
import { FleetStore, type LastResult } from './store.js';

export interface ManagedOptions extends GatewayOptions {
  readonly softwareVersion?: string;
}

interface Channel {
  status(): ChannelStatus;
  stop(): Promise<void>;
}

export class ManagedGateway {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly gateway: Gateway,
    readonly agent: FleetAgent,
    readonly store: FleetStore | undefined,
    private readonly channels: readonly Channel[],
  ) {}

  static async start(file: string, options: ManagedOptions = {}): Promise<ManagedGateway> {
    const local = loadLocalConfig(file);
    const log =
      options.log ?? createLogger({ level: local.config.log.level, gatewayId: local.config.gateway.id });
    const gatewayOptions = { ...options, log };
    const softwareVersion = options.softwareVersion ?? packageVersion();
    const fleet = local.fleet;
    if (!fleet) {
      const gateway = await Gateway.start(local.config, gatewayOptions);
      const agent = new FleetAgent({ local, gateway, log, softwareVersion });
      gateway.reportControl(() => ({ channels: [], reload: agent.lastReload() }));
      return new ManagedGateway(gateway, agent, undefined, []);
    }
    const keys = loadTrustedKeys(fleet);
    const store = FleetStore.open(join(local.config.gateway.data_dir, 'fleet'));
    if (store.recovered)
      log.error(
        { moved_to: store.recovered },
        'fleet state file was unreadable; starting from the local file',
      );
    const { gateway, verifying } = await boot(local, store, fleet.max_boot_attempts, gatewayOptions, log);
    const agent = new FleetAgent({ local, gateway, store, keys, log, softwareVersion });
    if (verifying) {
      const good = safeMerge(local, store.state.good?.config, log) ?? local.config;
      agent
        .verifyBoot(good)
        .catch((err: unknown) =>
          log.error({ err: errorMessage(err) }, 'verifying the config started at boot failed'),
        );
    }
    const channels: Channel[] = [];
    const fleetLog = log.child({ component: 'fleet' });
    if (fleet.mqtt) {
      const ch = new MqttChannel(agent, fleet.mqtt, local.config.gateway.id, fleet.labels, fleetLog);
      ch.start();
      channels.push(ch);
    }
    if (fleet.http) {
      const ch = new HttpChannel(agent, fleet.http, fleetLog);
      ch.start();
      channels.push(ch);
    }
    gateway.reportControl(() => ({
      channels: channels.map((ch) => ch.status()),
      reload: agent.lastReload(),
    }));
    return new ManagedGateway(gateway, agent, store, channels);
  }

  /** SIGHUP or a changed file: re-reads the local file and applies it in place. */
  reload(): Promise<LastResult> {
    return this.agent.reloadLocal();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.agent.close();
      for (const ch of this.channels) {
        await ch
          .stop()
          .catch((err: unknown) =>
            this.gateway.log.warn({ err: errorMessage(err) }, 'closing a fleet channel failed'),
          );
      }
      await this.gateway.stop();
    })();
    return this.stopping;
  }
}

/**
 * Starts the gateway with the first config that starts: the pending one (counting this start against
 * max_boot_attempts), the last known good one, the local file alone. `verifying` is true when the pending
 * one started: the agent must still watch it before committing it.
 */
async function boot(
  local: LocalConfig,
  store: FleetStore,
  maxBootAttempts: number,
  options: GatewayOptions,
  log: Logger,
): Promise<{ gateway: Gateway; verifying: boolean }> {
  const pending = store.state.pending;
  if (pending) {
    const boots = pending.boots + 1;
    if (boots > maxBootAttempts) {
      log.error(
        { version: pending.version, starts: pending.boots },
        'uncommitted config never became healthy; falling back',
      );
      await store.update((s) => ({
        ...s,
        pending: null,
        last_result: {
          version: pending.version,
          outcome: 'rolled_back',
          reason: 'boot_failed',
          message: `not committed after ${pending.boots} starts`,
          origin: 'boot',
          at_ms: Date.now(),
        },
      }));
    } else {
      await store.update((s) => ({ ...s, pending: s.pending && { ...s.pending, boots } }));
    }
  }
  const candidates: Array<{
    kind: 'pending' | 'good' | 'local';
    version: number;
    patch?: Record<string, unknown>;
  }> = [];
  const p = store.state.pending;
  const g = store.state.good;
  if (p) candidates.push({ kind: 'pending', version: p.version, patch: p.config });
  if (g) candidates.push({ kind: 'good', version: g.version, patch: g.config });
  candidates.push({ kind: 'local', version: 0 });
  for (const c of candidates) {
    try {
      const config = mergePipeline(local, c.patch, c.kind === 'local' ? local.file : `bundle v${c.version}`);
      const gateway = await Gateway.start(config, options);
      log.info({ version: c.version, config: c.kind }, 'started with fleet config');
      return { gateway, verifying: c.kind === 'pending' };
    } catch (err) {
      if (c.kind === 'local') throw err;
      log.error(
        { version: c.version, config: c.kind, err: errorMessage(err) },
        'config failed to start; trying the previous one',
      );
      if (c.kind === 'pending') {
        const message = errorMessage(err);
        await store.update((s) => ({
          ...s,
          pending: null,
          last_result: {
            version: c.version,
            outcome: 'rolled_back',
            reason: 'apply_failed',
            message,
            origin: 'boot',
            at_ms: Date.now(),
          },
        }));
      }
    }
  }
  throw new SluiceError('SLUICE_INTERNAL', 'no config to start with');
}

function safeMerge(
  local: LocalConfig,
  patch: Record<string, unknown> | undefined,
  log: Logger,
): Config | undefined {
  try {
    return mergePipeline(local, patch, 'last known good bundle');
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'the last known good bundle no longer fits the local file');
    return undefined;
  }
}

/** The version in package.json (dist/gateway/fleet -> ../../../, gateway/fleet -> ../../). */
function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'sluice' && pkg.version) return pkg.version;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return 'unknown';
}
