// The one backoff policy: jittered exponential, settings passed in by the caller's config. It is "equal
// jitter" in the terms of AWS's "Exponential Backoff And Jitter" (half the capped delay fixed, half random),
// not "full jitter" (uniform in [0, cap]): the fixed half keeps a failing upstream from being retried at
// near-zero delays, which full jitter allows on every attempt, and one gateway is not the crowd of clients
// whose contention full jitter spreads best.

export interface BackoffOptions {
  readonly initial_ms: number;
  readonly max_ms: number;
  readonly multiplier: number;
}

/** Delay before retry number `attempt` (0-based): uniform in [cap/2, cap], cap growing exponentially (equal jitter). */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(o.max_ms, o.initial_ms * Math.pow(o.multiplier, Math.min(attempt, 64)));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** Resolves after `ms`, or early (without error) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Whether `p` settles (resolves or rejects) within `ms`; its outcome is the caller's to handle. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = p.then(
    () => true,
    () => true,
  );
  const inTime = await Promise.race([
    settled,
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return inTime;
}
