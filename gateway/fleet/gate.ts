// The health gate: applies a config in place, waits the grace period, compares health with before, and
// reverts to the config that ran before when the apply failed or health got worse; then commits the pending
// bundle (it becomes the last known good) or records its rollback. It judges one change; which change runs
// when is the agent's turn (agent.ts).
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { SluiceError, errorMessage } from '../errors.js';
import type { Gateway } from '../runtime/gateway.js';
import { sleep } from '../runtime/retry.js';
import { newProblems, problems, type Problems } from './health.js';
import { lastResult, type AgentState } from './report.js';
import type { FleetStore, LastResult } from './store.js';

export type GateResult = { ok: true } | { ok: false; reason: 'apply_failed' | 'unhealthy'; message: string };

export interface GateOptions {
  readonly gateway: Gateway;
  /** Absent without a `fleet:` section: then only local reloads pass the gate (and nothing is committed). */
  readonly store: FleetStore | undefined;
  readonly log: Logger;
  readonly now: () => number;
  /** Aborted when the gateway stops: a gate in progress then ends without a verdict. */
  readonly closing: AbortSignal;
  /** fleet.health_grace_ms of the local config in force (0 without a `fleet:` section). */
  graceMs(): number;
  /** The agent's state as the gate moves through it (applying, verifying, running). */
  setState(state: AgentState): void;
}

export class HealthGate {
  constructor(private readonly o: GateOptions) {}

  /**
   * Applies `next` (when given), waits the grace period and compares health with `before`; reverts to
   * `revertTo` if the apply failed or health got worse. Undefined when stopped meanwhile.
   */
  async run(before: Problems, revertTo: Config, next: Config | undefined): Promise<GateResult | undefined>;
  async run(
    before: Problems,
    revertTo: Config,
    next: Config | undefined,
    supersede: AbortSignal,
  ): Promise<GateResult | 'superseded' | undefined>;
  async run(
    before: Problems,
    revertTo: Config,
    next: Config | undefined,
    supersede?: AbortSignal,
  ): Promise<GateResult | 'superseded' | undefined> {
    const gw = this.o.gateway;
    const closing = this.o.closing;
    if (next) {
      this.o.setState('applying');
      try {
        await gw.apply(next);
      } catch (err) {
        return { ok: false, reason: 'apply_failed', message: await this.revert(revertTo, errorMessage(err)) };
      }
    }
    this.o.setState('verifying');
    const signals = supersede ? [closing, supersede] : [closing];
    await sleep(this.o.graceMs(), AbortSignal.any(signals));
    if (closing.aborted) return undefined;
    if (supersede?.aborted) return 'superseded';
    const worse = newProblems(before, problems(gw.status()));
    if (worse.length === 0) return { ok: true };
    return { ok: false, reason: 'unhealthy', message: await this.revert(revertTo, worse.join('; ')) };
  }

  /** Commits the pending config (it becomes the last known good) or records its rollback. */
  async conclude(version: number, gate: GateResult | undefined, origin: string): Promise<LastResult> {
    const store = this.o.store;
    if (!store) throw new SluiceError('SLUICE_INTERNAL', 'no fleet store');
    if (gate === undefined) {
      // Stopped during the grace period: no verdict. The pending config is judged again at the next start.
      return lastResult(
        this.o.now(),
        version,
        'rejected',
        origin,
        'interrupted',
        'the gateway stopped during verification',
      );
    }
    const result = gate.ok
      ? lastResult(this.o.now(), version, 'applied', origin)
      : lastResult(this.o.now(), version, 'rolled_back', origin, gate.reason, gate.message);
    await store.update((s) => {
      if (!gate.ok || !s.pending) return { ...s, pending: null, last_result: result };
      const { boots: _boots, ...committed } = s.pending;
      return { ...s, good: committed, pending: null, last_result: result };
    });
    this.o.log[gate.ok ? 'info' : 'error'](
      { version, outcome: result.outcome, reason: result.reason, err: result.message },
      gate.ok ? 'config committed' : 'config rolled back',
    );
    this.o.setState('running');
    return result;
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
}
