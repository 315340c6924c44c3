// The fleet agent: takes bundles from any channel (and local reloads), verifies them, applies them in place,
// watches health for a grace period, then commits the new config or reverts to the last known good one, and
// reports every outcome in its status. One change at a time; every step is persisted before it is taken.
import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FleetConfig } from '../config/bootstrap-schema.js';
import { canonicalJson, loadLocalConfig, mergePipeline, type LocalConfig } from '../config/bootstrap.js';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { SluiceError, errorMessage } from '../errors.js';
import type { Gateway } from '../runtime/gateway.js';
import type { ReloadStatus } from '../status.js';
import { sleep } from '../runtime/retry.js';
import { BundleRejected, checkBundle, verifyBundle, type VerifiedBundle } from './bundle.js';
import { newProblems, problems, type Problems } from './health.js';
import type { FleetStore, LastResult } from './store.js';

export type AgentState = 'running' | 'applying' | 'verifying' | 'stopped';

/** What a gateway reports: published retained on the fleet broker, printed by `sluice fleet status`. */
export interface FleetStatus {
  readonly gateway: string;
  readonly labels: readonly string[];
  readonly software_version: string;
  readonly state: AgentState;
  /** Version of the committed bundle (0: the local file alone). */
  readonly applied_version: number;
  readonly pending_version: number | null;
  /** Highest version ever accepted: a bundle must be above it. */
  readonly highest_version: number;
  readonly last_result: LastResult | null;
  /**
   * Versions skipped because a newer bundle arrived before they were applied or while they were in their
   * health grace (newest last, the last 32); the newer one is judged against the last good config.
   */
  readonly skipped_versions: readonly number[];
  readonly health: { readonly state: 'healthy' | 'degraded'; readonly problems: readonly string[] };
  readonly queue: {
    readonly depth: number;
    readonly bytes: number;
    /** Largest number of readings a sink has not acknowledged. */
    readonly lag: number;
    readonly oldest_unacked_age_ms: number | null;
    readonly dropped: number;
  };
  readonly uptime_ms: number;
  readonly at_ms: number;
}

export interface AgentOptions {
  readonly local: LocalConfig;
  readonly gateway: Gateway;
  /** Absent without a `fleet:` section: then only local reloads are handled. */
  readonly store?: FleetStore;
  readonly keys?: ReadonlyMap<string, KeyObject>;
  readonly log: Logger;
  readonly softwareVersion: string;
  readonly now?: () => number;
}

export interface Delivery {
  /** Channel name, reported as the result's origin. */
  readonly origin: string;
  /** A retained message replayed at subscribe: history, not a push; a stale one is ignored silently. */
  readonly replay?: boolean;
}

type GateResult = { ok: true } | { ok: false; reason: 'apply_failed' | 'unhealthy'; message: string };

/** A verified bundle waiting for its turn; a newer one replaces it. */
interface Waiting {
  readonly bundle: VerifiedBundle;
  readonly config: Config;
  readonly delivery: Delivery;
  resolve(result: LastResult | undefined): void;
  reject(err: unknown): void;
}

/** Where a chain of superseded bundles started: the health to compare with and the config to go back to. */
interface Baseline {
  readonly before: Problems;
  readonly revertTo: Config;
}

const MAX_SKIPPED = 32;

export class FleetAgent extends EventEmitter<{ status: [FleetStatus] }> {
  private local: LocalConfig;
  private state: AgentState = 'running';
  private lastLocal: LastResult | null = null;
  private turn: Promise<unknown> = Promise.resolve();
  private readonly closing = new AbortController();
  private readonly now: () => number;
  /** The newest verified bundle not yet started. */
  private waiting: Waiting | undefined;
  /** The bundle being applied or in its health grace, and how to cut its grace short. */
  private inGrace: { readonly version: number; readonly supersede: AbortController } | undefined;
  private readonly skipped: number[] = [];
  /** Highest version queued or applied in this run (the store's highest_version lags it until applied). */
  private accepted = 0;
  private acceptedDigest: string | undefined;

  constructor(private readonly o: AgentOptions) {
    super();
    this.local = o.local;
    this.now = o.now ?? Date.now;
  }

  private get fleet(): FleetConfig | undefined {
    return this.local.fleet;
  }

  /**
   * Verifies and applies a bundle; resolves with the outcome (undefined when ignored as a stale replay).
   * Verification happens at once; applying waits for the change in progress. A newer verified bundle
   * supersedes this one while it waits, and while it is in its health grace (its outcome is then
   * `rejected` / `superseded`): a burst of pushes costs one grace period, not one per bundle.
   */
  async submit(text: string, delivery: Delivery): Promise<LastResult | undefined> {
    if (this.closing.signal.aborted) throw new SluiceError('SLUICE_SHUTDOWN', 'the gateway is stopping');
    const admitted = await this.admit(text, delivery);
    if (admitted === undefined || !('bundle' in admitted)) return admitted;
    const version = admitted.bundle.payload.version;
    // Checked again now that it is its turn to queue: the same bundle (from a group topic too) or a newer
    // one may have been admitted meanwhile.
    if (admitted.bundle.digest === this.acceptedDigest) return undefined;
    const highest = Math.max(this.o.store?.state.highest_version ?? 0, this.accepted);
    if (version <= highest)
      return this.reject(
        new BundleRejected('stale_version', `version ${version} is not above ${highest}`, version),
        admitted.bundle,
        delivery,
      );
    this.accepted = version;
    this.acceptedDigest = admitted.bundle.digest;
    return new Promise<LastResult | undefined>((resolve, reject) => {
      const previous = this.waiting;
      this.waiting = { ...admitted, delivery, resolve, reject };
      if (previous) this.skip(previous, version, 'before it was applied');
      if (this.inGrace && this.inGrace.version < version) this.inGrace.supersede.abort();
      this.serially(() => this.applyWaiting()).catch((err: unknown) => {
        // Refused at once (stopping): nobody will take this bundle any more.
        if (this.waiting?.bundle === admitted.bundle) this.waiting = undefined;
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /** Size in bytes of the largest bundle accepted (fleet.max_bundle_bytes). */
  get maxBundleBytes(): number {
    return this.fleet?.max_bundle_bytes ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Records a bundle refused for its size alone, before any of it was decoded (the channels call this
   * instead of submit(): the bytes are never turned into text).
   */
  async rejectOversized(bytes: number, delivery: Delivery): Promise<LastResult | undefined> {
    const err = new BundleRejected(
      'too_large',
      `${bytes} bytes, above fleet.max_bundle_bytes (${this.maxBundleBytes})`,
    );
    return this.reject(err, undefined, delivery);
  }

  /** Re-reads the local file (SIGHUP, file changed) and applies its pipeline through the same health gate. */
  reloadLocal(): Promise<LastResult> {
    return this.serially(() => this.handleReload());
  }

  /** Watches a config that was still uncommitted at boot, then commits it or falls back to `good`. */
  verifyBoot(good: Config): Promise<LastResult> {
    return this.serially(async () => {
      const pending = this.o.store?.state.pending;
      if (!pending) throw new SluiceError('SLUICE_INTERNAL', 'verifyBoot() without a pending config');
      const gate = await this.gate(new Map(), good, undefined);
      return this.conclude(pending.version, gate, 'boot');
    });
  }

  /** Stops taking changes; a health gate in progress ends without a verdict (re-judged at next start). */
  async close(): Promise<void> {
    this.closing.abort();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(new SluiceError('SLUICE_SHUTDOWN', 'the gateway stopped before the bundle was applied'));
    await this.turn;
    this.setState('stopped');
  }

  /** The last reload of the local file, for /api/status and `sluice status`. */
  lastReload(): ReloadStatus | null {
    const r = this.lastLocal;
    if (!r) return null;
    return {
      result: r.outcome === 'applied' ? 'ok' : 'failed',
      outcome: r.outcome,
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(r.message !== undefined && r.outcome !== 'applied' ? { error: r.message } : {}),
      at: r.at_ms,
    };
  }

  status(): FleetStatus {
    const s = this.o.gateway.status();
    const stored = this.o.store?.state;
    const found = [...problems(s)].map(([k, why]) => `${k}: ${why}`);
    let lag = 0;
    let oldest: number | null = null;
    for (const c of s.queue.cursors) {
      lag = Math.max(lag, c.lag);
      if (c.oldestUnackedAgeMs !== null) oldest = Math.max(oldest ?? 0, c.oldestUnackedAgeMs);
    }
    const results = [stored?.last_result ?? null, this.lastLocal].filter((r) => r !== null);
    return {
      gateway: s.gateway,
      labels: this.fleet?.labels ?? [],
      software_version: this.o.softwareVersion,
      state: this.state,
      applied_version: stored?.good?.version ?? 0,
      pending_version: stored?.pending?.version ?? null,
      highest_version: stored?.highest_version ?? 0,
      last_result: results.sort((a, b) => b.at_ms - a.at_ms)[0] ?? null,
      skipped_versions: [...this.skipped],
      health: { state: found.length === 0 ? 'healthy' : 'degraded', problems: found },
      queue: {
        depth: s.queue.depth,
        bytes: s.queue.bytes,
        lag,
        oldest_unacked_age_ms: oldest,
        dropped: s.queue.dropped,
      },
      uptime_ms: this.now() - s.startedAt,
      at_ms: this.now(),
    };
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(() => {
      if (this.closing.signal.aborted) throw new SluiceError('SLUICE_SHUTDOWN', 'the gateway is stopping');
      return fn();
    });
    this.turn = run.catch((err: unknown) => this.o.log.debug({ err: errorMessage(err) }, 'change ended'));
    return run;
  }

  /** Verifies and checks a bundle: the bundle and its merged config, or the rejection (undefined: ignored). */
  private async admit(
    text: string,
    delivery: Delivery,
  ): Promise<{ bundle: VerifiedBundle; config: Config } | LastResult | undefined> {
    const store = this.o.store;
    const fleet = this.fleet;
    if (!store || !fleet || !this.o.keys)
      throw new SluiceError('SLUICE_FLEET_REJECTED', 'this gateway has no fleet section');
    let bundle: VerifiedBundle | undefined;
    try {
      // Checked here too for callers other than the channels (which refuse before decoding anything).
      const bytes = Buffer.byteLength(text);
      if (bytes > fleet.max_bundle_bytes)
        throw new BundleRejected(
          'too_large',
          `${bytes} bytes, above fleet.max_bundle_bytes (${fleet.max_bundle_bytes})`,
        );
      bundle = verifyBundle(text, this.o.keys);
      const known = [store.state.good?.digest, store.state.pending?.digest, this.acceptedDigest];
      if (known.includes(bundle.digest)) {
        // The same bundle again, from another topic (a canary's own topic, then its group's): done already.
        this.o.log.debug({ version: bundle.payload.version, via: delivery.origin }, 'bundle already applied');
        return undefined;
      }
      checkBundle(bundle, {
        gatewayId: this.local.config.gateway.id,
        labels: fleet.labels,
        // A bundle waiting for its turn counts as accepted: an older one could only be superseded by it.
        highestVersion: Math.max(store.state.highest_version, this.accepted),
        now: this.now(),
        maxClockSkewMs: fleet.max_clock_skew_ms,
      });
      const config = mergePipeline(this.local, bundle.payload.config, `bundle v${bundle.payload.version}`);
      return { bundle, config };
    } catch (err) {
      if (!(err instanceof BundleRejected) && !(err instanceof ConfigError)) throw err;
      return this.reject(err, bundle, delivery);
    }
  }

  private async reject(
    err: BundleRejected | ConfigError,
    bundle: VerifiedBundle | undefined,
    delivery: Delivery,
  ): Promise<LastResult | undefined> {
    const store = this.o.store;
    if (!store) throw new SluiceError('SLUICE_INTERNAL', 'no fleet store');
    const reason = err instanceof BundleRejected ? err.reason : 'invalid_config';
    const version = bundle?.payload.version ?? (err instanceof BundleRejected ? err.version : undefined);
    if (delivery.replay && reason === 'stale_version') {
      this.o.log.debug({ version, via: delivery.origin }, 'retained bundle not above the applied one');
      return undefined;
    }
    this.o.log.warn({ version, reason, err: err.message, via: delivery.origin }, 'bundle rejected');
    const result = this.result(version ?? 0, 'rejected', delivery.origin, reason, err.message);
    await store.update((s) => ({ ...s, last_result: result }));
    this.publish();
    return result;
  }

  /** Reports a bundle that a newer one replaced; it was never committed. */
  private skip(w: Waiting, by: number, when: string): void {
    const { version } = w.bundle.payload;
    this.skipped.push(version);
    if (this.skipped.length > MAX_SKIPPED) this.skipped.splice(0, this.skipped.length - MAX_SKIPPED);
    this.o.log.info({ version, superseded_by: by, via: w.delivery.origin }, `bundle superseded ${when}`);
    w.resolve(
      this.result(version, 'rejected', w.delivery.origin, 'superseded', `superseded by v${by} ${when}`),
    );
    this.publish();
  }

  /** Applies the waiting bundle, then any that superseded it meanwhile, in one turn. */
  private async applyWaiting(): Promise<void> {
    let baseline: Baseline | undefined;
    for (let w = this.waiting; w !== undefined; w = this.waiting) {
      this.waiting = undefined;
      try {
        baseline = await this.applyBundle(w, baseline);
      } catch (err) {
        baseline = undefined;
        w.reject(err);
      }
    }
  }

  /**
   * Persists the bundle as pending, applies it through the health gate and commits or rolls it back.
   * Returns the baseline to judge its successor by when it was superseded in its grace.
   *
   * Superseding during the grace is safe because nothing of the superseded bundle is ever committed: its
   * successor is compared with the health before the first bundle of the chain and, if worse, reverted to
   * the config that ran then (the last known good), exactly as if it had been the only push. An apply in
   * progress is never cut: components would be left half switched.
   */
  private async applyBundle(w: Waiting, baseline: Baseline | undefined): Promise<Baseline | undefined> {
    const store = this.o.store;
    if (!store) throw new SluiceError('SLUICE_INTERNAL', 'no fleet store');
    const { bundle, delivery } = w;
    const { version } = bundle.payload;
    this.o.log.info(
      { version, key_id: bundle.keyId, digest: bundle.digest, via: delivery.origin },
      'applying bundle',
    );
    const pending = { version, digest: bundle.digest, config: bundle.payload.config, at_ms: this.now() };
    // Persisted before the switch: a crash from here on restarts with it, and the boot counter decides.
    await store.update((s) => ({ ...s, highest_version: version, pending: { ...pending, boots: 0 } }));
    const base = baseline ?? { before: problems(this.o.gateway.status()), revertTo: this.o.gateway.config };
    const supersede = new AbortController();
    this.inGrace = { version, supersede };
    let gate: GateResult | 'superseded' | undefined;
    try {
      gate = await this.gate(base.before, base.revertTo, w.config, supersede.signal);
    } finally {
      this.inGrace = undefined;
    }
    if (gate === 'superseded') {
      this.skip(w, this.waiting?.bundle.payload.version ?? version, 'during its health grace');
      return base;
    }
    w.resolve(await this.conclude(version, gate, delivery.origin));
    return undefined;
  }

  /** Commits the pending config (it becomes the last known good) or records its rollback. */
  private async conclude(version: number, gate: GateResult | undefined, origin: string): Promise<LastResult> {
    const store = this.o.store;
    if (!store) throw new SluiceError('SLUICE_INTERNAL', 'no fleet store');
    if (gate === undefined) {
      // Stopped during the grace period: no verdict. The pending config is judged again at the next start.
      return this.result(
        version,
        'rejected',
        origin,
        'interrupted',
        'the gateway stopped during verification',
      );
    }
    const result = gate.ok
      ? this.result(version, 'applied', origin)
      : this.result(version, 'rolled_back', origin, gate.reason, gate.message);
    await store.update((s) => {
      if (!gate.ok || !s.pending) return { ...s, pending: null, last_result: result };
      const { boots: _boots, ...committed } = s.pending;
      return { ...s, good: committed, pending: null, last_result: result };
    });
    this.o.log[gate.ok ? 'info' : 'error'](
      { version, outcome: result.outcome, reason: result.reason, err: result.message },
      gate.ok ? 'config committed' : 'config rolled back',
    );
    this.setState('running');
    return result;
  }

  /**
   * Applies `next` (when given), waits the grace period and compares health with `before`; reverts to
   * `revertTo` if the apply failed or health got worse. Undefined when stopped meanwhile.
   */
  private async gate(
    before: Problems,
    revertTo: Config,
    next: Config | undefined,
  ): Promise<GateResult | undefined>;
  private async gate(
    before: Problems,
    revertTo: Config,
    next: Config | undefined,
    supersede: AbortSignal,
  ): Promise<GateResult | 'superseded' | undefined>;
  private async gate(
    before: Problems,
    revertTo: Config,
    next: Config | undefined,
    supersede?: AbortSignal,
  ): Promise<GateResult | 'superseded' | undefined> {
    const gw = this.o.gateway;
    if (next) {
      this.setState('applying');
      try {
        await gw.apply(next);
      } catch (err) {
        return { ok: false, reason: 'apply_failed', message: await this.revert(revertTo, errorMessage(err)) };
      }
    }
    this.setState('verifying');
    const signals = supersede ? [this.closing.signal, supersede] : [this.closing.signal];
    await sleep(this.fleet?.health_grace_ms ?? 0, AbortSignal.any(signals));
    if (this.closing.signal.aborted) return undefined;
    if (supersede?.aborted) return 'superseded';
    const worse = newProblems(before, problems(gw.status()));
    if (worse.length === 0) return { ok: true };
    return { ok: false, reason: 'unhealthy', message: await this.revert(revertTo, worse.join('; ')) };
  }

  /** Goes back to `config`; returns the message to report (with the revert's own failure, if any). */
  private async revert(config: Config, why: string): Promise<string> {
    try {
      await this.o.gateway.apply(config);
      return why;
    } catch (err) {
      this.o.log.error({ err: errorMessage(err) }, 'reverting to the last known good config failed too');
      return `${why}; revert failed too: ${errorMessage(err)}`;
    }
  }

  private async handleReload(): Promise<LastResult> {
    const file = this.local.file;
    let next: LocalConfig;
    let config: Config;
    try {
      next = loadLocalConfig(file);
      if (next.bootstrapKey !== this.local.bootstrapKey)
        return this.localResult('rejected', 'restart_required', 'gateway, observe or fleet settings changed');
      config = mergePipeline(next, this.o.store?.state.good?.config, file);
    } catch (err) {
      if (!(err instanceof SluiceError)) throw err;
      return this.localResult('rejected', 'invalid_config', err.message);
    }
    if (canonicalJson(config) === canonicalJson(this.o.gateway.config)) {
      this.local = next;
      return this.localResult('applied', undefined, 'no change');
    }
    const gate = await this.gate(problems(this.o.gateway.status()), this.o.gateway.config, config);
    this.setState('running');
    if (gate === undefined) return this.localResult('rejected', 'interrupted', 'stopped during verification');
    if (!gate.ok) return this.localResult('rolled_back', gate.reason, gate.message);
    this.local = next;
    return this.localResult('applied');
  }

  private localResult(outcome: LastResult['outcome'], reason?: string, message?: string): LastResult {
    const result = this.result(0, outcome, 'local', reason, message);
    this.lastLocal = result;
    this.o.log[outcome === 'applied' ? 'info' : 'warn'](
      { file: this.local.file, outcome, reason, err: message },
      'local config reload',
    );
    this.publish();
    return result;
  }

  private result(
    version: number,
    outcome: LastResult['outcome'],
    origin: string,
    reason?: string,
    message?: string,
  ): LastResult {
    return {
      version,
      outcome,
      origin,
      at_ms: this.now(),
      ...(reason !== undefined ? { reason } : {}),
      ...(message !== undefined ? { message } : {}),
    };
  }

  private setState(state: AgentState): void {
    this.state = state;
    this.publish();
  }

  private publish(): void {
    this.emit('status', this.status());
  }
}
