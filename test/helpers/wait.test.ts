// The shared wait helper: what it returns, and that a timeout says what was awaited and what was last seen.
import { expect, test } from 'vitest';
import { until } from './wait.mjs';

test('returns the first value that is not false, undefined or null, sync or async', async () => {
  let n = 0;
  expect(await until(() => ++n >= 3, { intervalMs: 1 })).toBe(true);
  let m = 0;
  expect(await until(() => Promise.resolve(++m >= 3 ? { at: m } : undefined), { intervalMs: 1 })).toEqual({
    at: 3,
  });
  expect(await until(() => 0)).toBe(0); // zero is a value, not "not yet"
});

test('with accept, returns the value accept takes', async () => {
  let n = 0;
  expect(await until(() => ++n, { accept: (v) => v === 4, intervalMs: 1 })).toBe(4);
});

test('an exception is "not yet"; on timeout the error names what, the time, the last state and exception', async () => {
  let tries = 0;
  const waiting = until(
    () => {
      tries++;
      throw new Error('ECONNREFUSED');
    },
    { what: 'the peer', timeoutMs: 50, intervalMs: 5, state: () => ({ tries }) },
  );
  const err = await waiting.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err?.message).toMatch(/^the peer: not met within 50 ms \(\d+ ms, \d+ tries\)/);
  expect(err?.message).toMatch(/last state: \{\n "tries": \d+\n\}/);
  expect(err?.message).toContain('last exception: Error: ECONNREFUSED');
  expect(tries).toBeGreaterThan(1);
});

test('with accept, the timeout shows the last value', async () => {
  await expect(until(() => 'almost', { accept: (v) => v === 'done', timeoutMs: 20 })).rejects.toThrow(
    /last value: almost/,
  );
});

test('abort ends the wait at once with its error', async () => {
  const died = new Error('peer exited with code 1');
  const started = Date.now();
  await expect(until(() => false, { timeoutMs: 10_000, abort: () => died })).rejects.toBe(died);
  expect(Date.now() - started).toBeLessThan(1000);
});
