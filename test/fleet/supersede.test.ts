// Bursts of bundles and bundles whose sink never gets healthy: a newer bundle supersedes one that waits or
// is in its health grace (one grace per burst, the skipped versions reported), a sink stuck in connect fails
// the gate and is rolled back, and a stuck component never blocks the next bundle.
import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { ManagedGateway } from '../../gateway/fleet/managed.js';
import { statusRows } from '../../gateway/cli/fleet/status.js';
import type { LastResult } from '../../gateway/fleet/store.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { FileSink } from '../../gateway/sinks/file/sink.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { bundle, fileSink, operator, sim, writeLocal } from './helpers.js';

const op = operator();
const running: ManagedGateway[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(running.splice(0).map((m) => m.stop()));
});

async function start(id: string, graceMs: number): Promise<{ m: ManagedGateway; dir: string }> {
  const dir = tempDir();
  const file = writeLocal({
    id,
    dir,
    op,
    labels: ['all'],
    graceMs,
    pipeline: {
      shutdown_timeout_ms: 300,
      sources: { sim: sim() },
      sinks: { out: fileSink(join(dir, 'out')) },
    },
  });
  const m = await ManagedGateway.start(file, { log: silentLogger });
  running.push(m);
  return { m, dir };
}

test('50 bundles pushed at once: the newest supersedes the others, which are reported as skipped', async () => {
  const { m, dir } = await start('gw-burst', 500);
  const applies = vi.spyOn(Gateway.prototype, 'apply');
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      m.agent.submit(
        bundle(op, {
          version: i + 1,
          config: { shutdown_timeout_ms: 300, sinks: { out: fileSink(join(dir, `out${i + 1}`)) } },
        }),
        { origin: 'test' },
      ),
    ),
  );
  const last = results[49];
  expect(last).toMatchObject({ version: 50, outcome: 'applied' });
  const skipped = results.slice(0, 49) as LastResult[];
  for (const r of skipped) expect(r).toMatchObject({ outcome: 'rejected', reason: 'superseded' });
  expect(skipped.every((r) => /superseded by v\d+/.test(r.message ?? ''))).toBe(true);
  // v1 may have been applied before v2 came in (then its grace was cut short); nothing else was
  expect(applies.mock.calls.length).toBeLessThanOrEqual(2);
  const status = m.agent.status();
  expect(status).toMatchObject({ applied_version: 50, highest_version: 50, pending_version: null });
  expect(status.skipped_versions).toEqual(Array.from({ length: 32 }, (_, i) => i + 18));
  expect(m.gateway.config.sinks.out).toMatchObject({ path: join(dir, 'out50') });
  const row = statusRows(new Map([['gw-burst', { status, online: true }]]), Date.now())[0];
  expect(row?.[6]).toBe('v50 applied; skipped v18-v49');
}, 20_000);

test('a bundle superseded in its grace: the newer one is judged against the last good config', async () => {
  const { m, dir } = await start('gw-chain', 400);
  const v1 = m.agent.submit(
    bundle(op, { version: 1, config: { sinks: { out: fileSink(join(dir, 'out1')) } } }),
    { origin: 'test' },
  );
  await until(() => m.agent.status().state === 'verifying', { timeoutMs: 5000, what: 'v1 in its grace' });
  // v2 breaks the sink (ENOTDIR): it must be rolled back to the local config, not to the uncommitted v1
  const v2 = m.agent.submit(
    bundle(op, { version: 2, config: { sinks: { out: fileSink('/dev/null/out') } } }),
    { origin: 'test' },
  );
  expect(await v1).toMatchObject({ version: 1, outcome: 'rejected', reason: 'superseded' });
  expect(await v2).toMatchObject({ version: 2, outcome: 'rolled_back', reason: 'unhealthy' });
  expect(m.gateway.config.sinks.out).toMatchObject({ path: join(dir, 'out') });
  expect(m.agent.status()).toMatchObject({ applied_version: 0, skipped_versions: [1] });
}, 20_000);

test('an older bundle arriving after a newer one waits is refused as stale, not applied after it', async () => {
  const { m } = await start('gw-order', 300);
  const v5 = m.agent.submit(bundle(op, { version: 5, config: {} }), { origin: 'test' });
  const v6 = m.agent.submit(bundle(op, { version: 6, config: {} }), { origin: 'test' });
  const v4 = m.agent.submit(bundle(op, { version: 4, config: {} }), { origin: 'test' });
  expect(await v4).toMatchObject({ outcome: 'rejected', reason: 'stale_version' });
  expect(await v6).toMatchObject({ version: 6, outcome: 'applied' });
  expect((await v5)?.outcome).not.toBe('applied');
}, 20_000);

test('a sink stuck in connect fails the health gate, and the next good bundle is applied', async () => {
  const real = FileSink.prototype.connect;
  vi.spyOn(FileSink.prototype, 'connect').mockImplementation(function (this: FileSink) {
    const path = (this as unknown as { config: { path: string } }).config.path;
    return path.includes('stuck') ? new Promise<void>(() => undefined) : real.call(this);
  });
  const { m, dir } = await start('gw-stuck', 300);
  const stuck = await m.agent.submit(
    bundle(op, {
      version: 1,
      config: { shutdown_timeout_ms: 300, sinks: { out: fileSink(join(dir, 'stuck')) } },
    }),
    { origin: 'test' },
  );
  expect(stuck).toMatchObject({ version: 1, outcome: 'rolled_back', reason: 'unhealthy' });
  expect(stuck?.message).toMatch(/sink out: connect has not returned/);
  expect(m.agent.status()).toMatchObject({ applied_version: 0, state: 'running' });
  const good = await m.agent.submit(
    bundle(op, {
      version: 2,
      config: { shutdown_timeout_ms: 300, sinks: { out: fileSink(join(dir, 'good')) } },
    }),
    { origin: 'test' },
  );
  expect(good).toMatchObject({ version: 2, outcome: 'applied' });
  expect(m.agent.status()).toMatchObject({ applied_version: 2, state: 'running' });
}, 20_000);

test('the same bundle delivered twice at once (its own topic and its group topic) is applied once, not refused', async () => {
  const { m } = await start('gw-twice', 100);
  const text = bundle(op, { version: 7, config: {} });
  const [a, b] = await Promise.all([
    m.agent.submit(text, { origin: 'mqtt' }),
    m.agent.submit(text, { origin: 'mqtt' }),
  ]);
  expect(a).toMatchObject({ version: 7, outcome: 'applied' });
  expect(b).toBeUndefined();
  expect(m.agent.status().last_result).toMatchObject({ version: 7, outcome: 'applied' });
}, 20_000);
