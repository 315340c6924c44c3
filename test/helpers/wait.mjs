// The one way tests and benches wait for a condition: poll until it holds, and when it never does, fail
// with what was awaited, how long, and the last state and exception seen, so a red CI run says why.
// Plain JavaScript (typed by wait.d.mts) because the benches run under bare node, which cannot import TS.

/** A value the condition returns while it does not hold yet. */
function pending(value) {
  return value === false || value === undefined || value === null;
}

/** Describes a state or exception for the timeout message; a describer that throws says so. */
function describe(value) {
  if (value instanceof Error) return value.stack ?? value.message;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value, null, 1) ?? String(value);
  } catch (err) {
    return `(not printable: ${err instanceof Error ? err.message : String(err)})`;
  }
}

/**
 * Calls `cond` until it returns something other than false, undefined or null (or, with `accept`, a value
 * `accept` takes), and returns that. An exception from `cond` counts as "not yet" (a peer still starting
 * refuses connections) and is kept for the timeout message; `abort` returning an error ends the wait at once
 * with it (the peer process died). Types: wait.d.mts.
 */
export async function until(cond, options = {}) {
  const { timeoutMs = 10_000, what = 'condition', intervalMs = 20, state, abort, accept } = options;
  const started = performance.now();
  let lastError;
  let lastValue;
  let valueSeen = false;
  let tries = 0;
  for (;;) {
    const problem = abort ? await abort() : undefined;
    if (problem) throw problem;
    tries++;
    try {
      const value = await cond();
      if (accept ? accept(value) : !pending(value)) return value;
      lastValue = value;
      valueSeen = true;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    const elapsed = performance.now() - started;
    if (elapsed > timeoutMs) {
      const lines = [`${what}: not met within ${timeoutMs} ms (${Math.round(elapsed)} ms, ${tries} tries)`];
      if (accept && valueSeen) lines.push(`last value: ${describe(lastValue)}`);
      if (state) {
        let seen;
        try {
          seen = describe(await state());
        } catch (err) {
          seen = `(state() threw: ${describe(err)})`;
        }
        lines.push(`last state: ${seen}`);
      }
      if (lastError !== undefined) lines.push(`last exception: ${describe(lastError)}`);
      throw new Error(lines.join('\n'), lastError === undefined ? undefined : { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
