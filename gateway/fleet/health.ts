// What the health gate judges a config by: the components that are failing for reasons the config can cause.
// A source reporting unhealthy (a listener that cannot bind, a serial port that is missing), and a sink that
// cannot connect or write, except when it is retrying because its upstream is unreachable: a broker that is
// down is not the new config's fault, and reverting would not bring it back.
import type { GatewayStatus } from '../runtime/gateway.js';
import { sinkProblem } from '../runtime/sink-runner.js';

/** Failing components: `source NAME` / `sink NAME` -> why. */
export type Problems = ReadonlyMap<string, string>;

/**
 * Judged after the grace period, a sink that is still not connected (its first connect has not returned)
 * is failing too: a config whose sink never gets healthy must not become the last known good.
 */
export function problems(status: GatewayStatus, now = Date.now()): Problems {
  const out = new Map<string, string>();
  for (const s of status.sources) {
    if (s.health.state === 'unhealthy') out.set(`source ${s.name}`, s.health.detail ?? 'unhealthy');
  }
  for (const s of status.sinks) {
    const why = sinkProblem(s, now, 0);
    if (why !== undefined) out.set(`sink ${s.sink}`, why);
  }
  return out;
}

/** Problems in `after` that were not there in `before` (a component that was failing already does not count). */
export function newProblems(before: Problems, after: Problems): string[] {
  return [...after].filter(([k]) => !before.has(k)).map(([k, why]) => `${k}: ${why}`);
}
