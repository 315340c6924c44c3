// What the health gate judges a config by: the components that are failing for reasons the config can cause,
// by the one rule of gateway/status.ts (readiness uses it too). Judged after the grace period, a sink that is
// still not connected (its first connect has not returned) is failing at once: a config whose sink never
// gets healthy must not become the last known good.
import { failingComponents, type GatewayStatus, type Problems } from '../status.js';

export type { Problems } from '../status.js';

/** Failing components of `status`: `source NAME` / `sink NAME` -> why. */
export function problems(status: GatewayStatus, now = Date.now()): Problems {
  return failingComponents(status, now, 0);
}

/** Problems in `after` that were not there in `before` (a component that was failing already does not count). */
export function newProblems(before: Problems, after: Problems): string[] {
  return [...after].filter(([k]) => !before.has(k)).map(([k, why]) => `${k}: ${why}`);
}
