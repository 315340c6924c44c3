// Sinks that cannot start: a directory procfs refuses (Node's own recursive mkdir spins forever on it), and
// a sink whose call into its upstream never returns. Neither may spin, hold up a stop, or a config switch.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { validateConfig } from '../../gateway/config/load.js';
import type { Config } from '../../gateway/config/schema.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { makeDir } from '../../gateway/sinks/file/client.js';
import { FileSink } from '../../gateway/sinks/file/sink.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';

afterEach(() => {
  vi.restoreAllMocks();
});

function config(dir: string, sinkPath: string, shutdownMs = 300): Config {
  const c = validateConfig(
    {
      gateway: { id: 'stuck', data_dir: join(dir, 'data') },
      log: { level: 'silent' },
      observe: { http: { enabled: false } },
      shutdown_timeout_ms: shutdownMs,
      sources: { sim: { type: 'simulator', devices: 1, interval_ms: 20 } },
      sinks: {
        out: {
          type: 'file',
          path: join(dir, 'out'),
          roll_interval_ms: 100,
          batch: { linger_ms: 5 },
          retry: { initial_ms: 50, max_ms: 400 },
        },
      },
    },
    'test',
  );
  // Set after validation: `check` refuses a path under /proc now, the runtime must still cope with one.
  const out = c.sinks.out;
  if (out?.type !== 'file') throw new Error('no file sink');
  return { ...c, sinks: { out: { ...out, path: sinkPath } } };
}

/** Makes FileSink.connect never return for paths containing `stuck` (a hung mount). */
function hangConnects(): void {
  const real = FileSink.prototype.connect;
  vi.spyOn(FileSink.prototype, 'connect').mockImplementation(function (this: FileSink) {
    const path = (this as unknown as { config: { path: string } }).config.path;
    return path.includes('stuck') ? new Promise<void>(() => undefined) : real.call(this);
  });
}

test('a directory under /proc fails with ENOENT instead of spinning in mkdir', async () => {
  await expect(makeDir('/proc/sluice-test-out/a')).rejects.toMatchObject({ code: 'ENOENT' });
  await expect(makeDir('/proc/sluice-test-out')).rejects.toMatchObject({ code: 'ENOENT' });
  const dir = tempDir();
  await makeDir(join(dir, 'a', 'b', 'c'));
  await makeDir(join(dir, 'a', 'b', 'c')); // exists already
}, 10_000);

test('a file sink under /proc backs off between connects and reports why', async () => {
  const dir = tempDir();
  const gw = await Gateway.start(config(dir, '/proc/sluice-test-out'), { log: silentLogger });
  try {
    const connects = vi.spyOn(FileSink.prototype, 'connect');
    await new Promise((r) => setTimeout(r, 1000));
    const sink = gw.status().sinks[0];
    // 50 ms doubling to 400 ms: a handful of attempts in a second, never a tight loop
    expect(connects.mock.calls.length).toBeLessThan(8);
    expect(sink).toMatchObject({ connected: false, lastError: { code: 'ENOENT' } });
    expect(sink?.health.state).toBe('unhealthy');
  } finally {
    await gw.stop();
  }
}, 10_000);

test('replacing a sink stuck in connect and stopping the gateway are bounded by shutdown_timeout_ms', async () => {
  hangConnects();
  const dir = tempDir();
  const stuck = config(dir, join(dir, 'stuck'));
  const gw = await Gateway.start(stuck, { log: silentLogger });
  expect(gw.status().sinks[0]?.pending).toMatchObject({ op: 'connect' });
  // the stuck sink is abandoned after 300 ms and its successor delivers from the same cursor
  await gw.apply(config(dir, join(dir, 'good')));
  const before = gw.queue.cursorPosition('out');
  await until(() => gw.queue.cursorPosition('out') > before, {
    timeoutMs: 5000,
    what: 'the successor delivers',
  });
  expect(gw.queue.cursorPosition('out')).toBeGreaterThan(before);
  await gw.apply(stuck);
  await gw.stop(); // would never resolve if the stuck sink were awaited
}, 10_000);

test('readiness fails for a sink that cannot start because of its config, with the reason', async () => {
  const { checkHealth } = await import('../../gateway/observe/health.js');
  const dir = tempDir();
  writeFileSync(join(dir, 'plain-file'), 'x');
  const gw = await Gateway.start(config(dir, join(dir, 'plain-file', 'out')), { log: silentLogger });
  try {
    await until(() => (gw.status().sinks[0]?.consecutiveFailures ?? 0) > 0, {
      timeoutMs: 5000,
      what: 'a failed start of the sink',
      state: () => gw.status().sinks[0],
    });
    const ready = await checkHealth(gw, 'ready');
    expect(ready.status).toBe('fail');
    expect(ready.reasons.join('\n')).toMatch(/sink out: ENOTDIR/);
    // liveness is not the sink's to fail: a restart would not fix a config
    expect((await checkHealth(gw, 'live')).status).toBe('ok');
  } finally {
    await gw.stop();
  }
}, 10_000);

test('readiness fails for a sink whose connect has not returned for stall_after_ms', async () => {
  hangConnects();
  const { checkHealth } = await import('../../gateway/observe/health.js');
  const dir = tempDir();
  const c = config(dir, join(dir, 'stuck'));
  const gw = await Gateway.start(
    { ...c, observe: { ...c.observe, health: { ...c.observe.health, stall_after_ms: 0 } } },
    { log: silentLogger },
  );
  try {
    const ready = await checkHealth(gw, 'ready');
    expect(ready.reasons.join('\n')).toMatch(/sink out: connect has not returned/);
  } finally {
    await gw.stop();
  }
}, 10_000);

test('a source whose start never returns fails the start within shutdown_timeout_ms, and is closed', async () => {
  const { SimulatorSource } = await import('../../gateway/sources/simulator.js');
  vi.spyOn(SimulatorSource.prototype, 'start').mockImplementation(() => new Promise<void>(() => undefined));
  const closed = vi.spyOn(SimulatorSource.prototype, 'close');
  const dir = tempDir();
  const started = Date.now();
  await expect(Gateway.start(config(dir, join(dir, 'out')), { log: silentLogger })).rejects.toMatchObject({
    code: 'SLUICE_SOURCE_IO',
    message: expect.stringMatching(/source sim did not start within 300 ms/),
  });
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(closed).toHaveBeenCalled();
});
