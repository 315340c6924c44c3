// What the fleet agent reports: the status a gateway publishes (and `sluice fleet status` prints), the
// outcome record of each change, and the local-reload summary of /api/status. Pure shapes and builders: the
// agent owns the state they are built from, so they can be read without its state machine.
import type { ReloadStatus, GatewayStatus } from '../status.js';
import { problems } from './health.js';
import type { FleetState, LastResult } from './store.js';

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

/** What the agent knows that the gateway's own status does not. */
export interface AgentFacts {
  readonly labels: readonly string[];
  readonly softwareVersion: string;
  readonly state: AgentState;
  /** The fleet store's state; absent without a `fleet:` section. */
  readonly stored: FleetState | undefined;
  readonly lastLocal: LastResult | null;
  readonly skipped: readonly number[];
  /** Read once for the uptime and once for the time of the report. */
  readonly now: () => number;
}

export function fleetStatus(s: GatewayStatus, a: AgentFacts): FleetStatus {
  const stored = a.stored;
  const found = [...problems(s)].map(([k, why]) => `${k}: ${why}`);
  let lag = 0;
  let oldest: number | null = null;
  for (const c of s.queue.cursors) {
    lag = Math.max(lag, c.lag);
    if (c.oldestUnackedAgeMs !== null) oldest = Math.max(oldest ?? 0, c.oldestUnackedAgeMs);
  }
  // The newer of the last fleet outcome and the last local reload.
  const results = [stored?.last_result ?? null, a.lastLocal].filter((r) => r !== null);
  return {
    gateway: s.gateway,
    labels: a.labels,
    software_version: a.softwareVersion,
    state: a.state,
    applied_version: stored?.good?.version ?? 0,
    pending_version: stored?.pending?.version ?? null,
    highest_version: stored?.highest_version ?? 0,
    last_result: results.sort((x, y) => y.at_ms - x.at_ms)[0] ?? null,
    skipped_versions: [...a.skipped],
    health: { state: found.length === 0 ? 'healthy' : 'degraded', problems: found },
    queue: {
      depth: s.queue.depth,
      bytes: s.queue.bytes,
      lag,
      oldest_unacked_age_ms: oldest,
      dropped: s.queue.dropped,
    },
    uptime_ms: a.now() - s.startedAt,
    at_ms: a.now(),
  };
}

/** The outcome of one change, as stored and reported. */
export function lastResult(
  atMs: number,
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
    at_ms: atMs,
    ...(reason !== undefined ? { reason } : {}),
    ...(message !== undefined ? { message } : {}),
  };
}

/** A local reload's outcome in the shape of /api/status and `sluice status`. */
export function reloadStatus(r: LastResult | null): ReloadStatus | null {
  if (!r) return null;
  return {
    result: r.outcome === 'applied' ? 'ok' : 'failed',
    outcome: r.outcome,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    ...(r.message !== undefined && r.outcome !== 'applied' ? { error: r.message } : {}),
    at: r.at_ms,
  };
}
