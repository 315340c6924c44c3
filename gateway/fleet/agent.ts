// The fleet agent: takes bundles from any channel (and local reloads), has them admitted (admission.ts),
// applies them in place through the health gate (gate.ts), then commits the new config or reverts to the
// last known good one, and reports every outcome in its status (report.ts). This file is its turn: one
// change at a time, in order, a newer bundle superseding one that waits or is in its grace; every step is
// persisted before it is taken.
import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FleetConfig } from '../config/bootstrap-schema.js';
import { canonicalJson, loadLocalConfig, mergePipeline, type LocalConfig } from '../config/bootstrap.js';
import type { Config } from '../config/schema.js';
import { SluiceError, errorMessage } from '../errors.js';
import type { Gateway } from '../runtime/gateway.js';
import type { ReloadStatus } from '../status.js';
import { Admission, type Delivery } from './admission.js';
import type { VerifiedBundle } from './bundle.js';
import { HealthGate, type GateResult } from './gate.js';
import { problems, type Problems } from './health.js';
import { fleetStatus, lastResult, reloadStatus, type AgentState, type FleetStatus } from './report.js';
import type { FleetStore, LastResult } from './store.js';

// The agent's public shapes, defined beside the parts that build them.
export type { Delivery } from './admission.js';
export type { AgentState, FleetStatus } from './report.js';

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
  private readonly admission: Admission;
  private readonly gate: HealthGate;
  /** The newest verified bundle not yet started. */
  private waiting: Waiting | undefined;
  /** The bundle being applied or in its health grace, and how to cut its grace short. */
  private inGrace: { readonly version: number; readonly supersede: AbortController } | undefined;
  private readonly skipped: number[] = [];

  constructor(private readonly o: AgentOptions) {
    super();
    this.local = o.local;
    this.now = o.now ?? Date.now;
    this.admission = new Admission({
      store: o.store,
      keys: o.keys,
      log: o.log,
      now: this.now,
      local: () => this.local,
      publish: () => this.publish(),
    });
    this.gate = new HealthGate({
      gateway: o.gateway,
      store: o.store,
      log: o.log,
      now: this.now,
      closing: this.closing.signal,
      graceMs: () => this.fleet?.health_grace_ms ?? 0,
      setState: (state) => this.setState(state),
    });
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
    const admitted = await this.admission.admit(text, delivery);
    if (admitted === undefined || !('bundle' in admitted)) return admitted;
    const version = admitted.bundle.payload.version;
    // Claimed again now that it is its turn to queue: the same bundle (from a group topic too) or a newer
    // one may have been admitted meanwhile.
    const claim = this.admission.claim(admitted, delivery);
    if (claim !== 'claimed') return claim;
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
    return this.admission.maxBundleBytes;
  }

  /**
   * Records a bundle refused for its size alone, before any of it was decoded (the channels call this
   * instead of submit(): the bytes are never turned into text).
   */
  async rejectOversized(bytes: number, delivery: Delivery): Promise<LastResult | undefined> {
    return this.admission.rejectOversized(bytes, delivery);
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
      const gate = await this.gate.run(new Map(), good, undefined);
      return this.gate.conclude(pending.version, gate, 'boot');
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
    return reloadStatus(this.lastLocal);
  }

  status(): FleetStatus {
    const s = this.o.gateway.status();
    return fleetStatus(s, {
      labels: this.fleet?.labels ?? [],
      softwareVersion: this.o.softwareVersion,
      state: this.state,
      stored: this.o.store?.state,
      lastLocal: this.lastLocal,
      skipped: this.skipped,
      now: this.now,
    });
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(() => {
      if (this.closing.signal.aborted) throw new SluiceError('SLUICE_SHUTDOWN', 'the gateway is stopping');
      return fn();
    });
    this.turn = run.catch((err: unknown) => this.o.log.debug({ err: errorMessage(err) }, 'change ended'));
    return run;
  }

  /** Reports a bundle that a newer one replaced; it was never committed. */
  private skip(w: Waiting, by: number, when: string): void {
    const { version } = w.bundle.payload;
    this.skipped.push(version);
    if (this.skipped.length > MAX_SKIPPED) this.skipped.splice(0, this.skipped.length - MAX_SKIPPED);
    this.o.log.info({ version, superseded_by: by, via: w.delivery.origin }, `bundle superseded ${when}`);
    w.resolve(
      lastResult(
        this.now(),
        version,
        'rejected',
        w.delivery.origin,
        'superseded',
        `superseded by v${by} ${when}`,
      ),
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
      gate = await this.gate.run(base.before, base.revertTo, w.config, supersede.signal);
    } finally {
      this.inGrace = undefined;
    }
    if (gate === 'superseded') {
      this.skip(w, this.waiting?.bundle.payload.version ?? version, 'during its health grace');
      return base;
    }
    w.resolve(await this.gate.conclude(version, gate, delivery.origin));
    return undefined;
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
    const gate = await this.gate.run(problems(this.o.gateway.status()), this.o.gateway.config, config);
    this.setState('running');
    if (gate === undefined) return this.localResult('rejected', 'interrupted', 'stopped during verification');
    if (!gate.ok) return this.localResult('rolled_back', gate.reason, gate.message);
    this.local = next;
    return this.localResult('applied');
  }

  private localResult(outcome: LastResult['outcome'], reason?: string, message?: string): LastResult {
    const result = lastResult(this.now(), 0, outcome, 'local', reason, message);
    this.lastLocal = result;
    this.o.log[outcome === 'applied' ? 'info' : 'warn'](
      { file: this.local.file, outcome, reason, err: message },
      'local config reload',
    );
    this.publish();
    return result;
  }

  private setState(state: AgentState): void {
    this.state = state;
    this.publish();
  }

  private publish(): void {
    this.emit('status', this.status());
  }
}
