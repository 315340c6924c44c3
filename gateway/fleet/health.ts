// What the health gate judges a config by: the components that are failing for reasons the config can cause.
// A source reporting unhealthy (a listener that cannot bind, a serial port that is missing), and a sink that
// cannot connect or write, except when it is retrying because its upstream is unreachable: a broker that is
// down is not the new config's fault, and reverting would not bring it back.
import type { GatewayStatus } from '../runtime/gateway.js';

/** Failing components: `source NAME` / `sink NAME` -> why. */
export type Problems = ReadonlyMap<string, string>;

export function problems(status: GatewayStatus): Problems {
  const out = new Map<string, string>();
  for (const s of status.sources) {
    if (s.health.state === 'unhealthy') out.set(`source ${s.name}`, s.health.detail ?? 'unhealthy');
  }
  for (const s of status.sinks) {
    const e = s.lastError;
    const upstreamDown = e !== undefined && e.retriable && e.code === 'SLUICE_UPSTREAM_UNREACHABLE';
    const failing = (!s.connected && s.consecutiveFailures > 0) || s.health.state === 'unhealthy';
    if (failing && !upstreamDown)
      out.set(`sink ${s.sink}`, e ? `${e.code}: ${e.message}` : (s.health.detail ?? 'unhealthy'));
  }
  return out;
}

/** Problems in `after` that were not there in `before` (a component that was failing already does not count). */
export function newProblems(before: Problems, after: Problems): string[] {
  return [...after].filter(([k]) => !before.has(k)).map(([k, why]) => `${k}: ${why}`);
}
