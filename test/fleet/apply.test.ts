// Applying configs in place on one gateway, without a broker: the diff, the health gate and its rollbacks,
// anti-rollback across restarts, the boot counter, and local reloads through the same path.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { loadLocalConfig, mergePipeline } from '../../gateway/config/bootstrap.js';
import { ManagedGateway } from '../../gateway/fleet/managed.js';
import { FleetStore } from '../../gateway/fleet/store.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { bundle, fileSink, operator, sim, sinkSeqs, writeLocal } from './helpers.js';

const op = operator();
const running: ManagedGateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((m) => m.stop()));
});

async function start(file: string): Promise<ManagedGateway> {
  const m = await ManagedGateway.start(file, { log: silentLogger });
  running.push(m);
  return m;
}

function setup(id: string, graceMs = 300): { dir: string; file: string } {
  const dir = tempDir();
  return { dir, file: writeLocal({ id, dir, op, labels: ['all'], graceMs }) };
}

describe('Gateway.apply', () => {
  test('keeps the queue, leaves unchanged components running, replaces changed ones under their cursor', async () => {
    const { dir, file } = setup('gw-apply');
    const m = await start(file);
    const gw = m.gateway;
    const queue = gw.queue;
    await until(() => gw.queue.stats().lastSeq > 20, { timeoutMs: 5000, what: 'readings' });
    const local = loadLocalConfig(file);
    const next = mergePipeline(
      local,
      {
        queue: { max_bytes: '64MiB', on_full: 'reject_new', commit_mode: 'background' },
        sources: { sim: sim() },
        sinks: { out: fileSink(join(dir, 'out'), { batch: { max_count: 7 } }), b: fileSink(join(dir, 'b')) },
      },
      'test',
    );
    const summary = await gw.apply(next);
    expect(summary).toEqual({
      started: ['sink b'],
      replaced: ['sink out'],
      stopped: [],
      unchanged: ['source sim'],
    });
    expect(gw.queue).toBe(queue);
    expect(queue.options).toMatchObject({
      maxBytes: 64 * 1024 * 1024,
      onFull: 'reject_new',
      commitMode: 'background',
    });
    expect(queue.stats().commitMode).toBe('background');
    expect(queue.cursorNames().sort()).toEqual(['b', 'out']);
    const removed = await gw.apply(mergePipeline(local, { sinks: { b: fileSink(join(dir, 'b')) } }, 't'));
    expect(removed).toMatchObject({ stopped: ['sink out'], unchanged: ['sink b', 'source sim'] });
  });

  test('changing the gateway section in place is refused', async () => {
    const { file } = setup('gw-fixed');
    const m = await start(file);
    const c = m.gateway.config;
    await expect(m.gateway.apply({ ...c, gateway: { ...c.gateway, id: 'other' } })).rejects.toThrow(
      /only the pipeline/,
    );
  });
});

describe('health-gated commit', () => {
  test('a sink that cannot write (path under a regular file: ENOTDIR) is rolled back and reported', async () => {
    const { dir, file } = setup('gw-sink');
    writeFileSync(join(dir, 'plain-file'), 'x');
    const m = await start(file);
    const result = await m.agent.submit(
      bundle(op, { version: 1, config: { sinks: { out: fileSink(join(dir, 'plain-file', 'out')) } } }),
      { origin: 'test' },
    );
    expect(result).toMatchObject({ version: 1, outcome: 'rolled_back', reason: 'unhealthy' });
    expect(result?.message).toMatch(/sink out: ENOTDIR/);
    expect(m.gateway.config.sinks.out).toMatchObject({ path: join(dir, 'out') });
    expect(m.agent.status()).toMatchObject({
      state: 'running',
      applied_version: 0,
      highest_version: 1,
      pending_version: null,
      health: { state: 'healthy' },
    });
    // the readings go on to the old sink
    const before = m.gateway.queue.cursorPosition('out');
    await until(() => m.gateway.queue.cursorPosition('out') > before, {
      timeoutMs: 5000,
      what: 'old sink acks again',
    });
  });

  test('a source that fails to start (its port is taken) is rolled back at once and reported', async () => {
    const { file } = setup('gw-port');
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const m = await start(file);
      const broker = {
        type: 'mqtt_broker',
        listeners: [{ type: 'tcp', host: '127.0.0.1', port, allow_anonymous: true }],
      };
      const result = await m.agent.submit(
        bundle(op, { version: 1, config: { sources: { sim: sim(), devices: broker } } }),
        { origin: 'test' },
      );
      expect(result).toMatchObject({ outcome: 'rolled_back', reason: 'apply_failed' });
      expect(result?.message).toMatch(/source devices: .*EADDRINUSE/);
      expect(Object.keys(m.gateway.config.sources)).toEqual(['sim']);
      expect(m.gateway.status().sources.map((s) => s.name)).toEqual(['sim']);
    } finally {
      blocker.close();
    }
  });

  test('a good bundle is committed after the grace period and survives a restart; older ones are refused', async () => {
    const { dir, file } = setup('gw-commit');
    let m = await start(file);
    const v3 = bundle(op, { version: 3, config: { sinks: { out: fileSink(join(dir, 'out3')) } } });
    expect(await m.agent.submit(v3, { origin: 'test' })).toMatchObject({ version: 3, outcome: 'applied' });
    await m.stop();
    m = await start(file);
    expect(m.gateway.config.sinks.out).toMatchObject({ path: join(dir, 'out3') });
    expect(m.agent.status()).toMatchObject({ applied_version: 3, highest_version: 3 });
    const v2 = bundle(op, { version: 2, config: {} });
    expect(await m.agent.submit(v2, { origin: 'test' })).toMatchObject({
      outcome: 'rejected',
      reason: 'stale_version',
    });
    // the same bundle again (from another topic): already applied, nothing to report
    expect(await m.agent.submit(v3, { origin: 'test' })).toBeUndefined();
    const other3 = bundle(op, { version: 3, config: {} });
    expect(await m.agent.submit(other3, { origin: 'test' })).toMatchObject({
      outcome: 'rejected',
      reason: 'stale_version',
    });
    // a retained replay of history is not worth a report
    expect(await m.agent.submit(v3, { origin: 'test', replay: true })).toBeUndefined();
    expect(m.gateway.config.sinks.out).toMatchObject({ path: join(dir, 'out3') });
  });
});

describe('boot', () => {
  test('an uncommitted config gets max_boot_attempts starts, then the last known good one is used', async () => {
    const { dir, file } = setup('gw-boot');
    const store = FleetStore.open(join(dir, 'data', 'fleet'));
    const good = {
      version: 1,
      digest: 'g',
      config: { sinks: { out: fileSink(join(dir, 'good')) } },
      at_ms: 1,
    };
    const bad = { version: 2, digest: 'b', config: { sinks: { out: fileSink(join(dir, 'bad')) } }, at_ms: 2 };
    await store.update((s) => ({ ...s, highest_version: 2, good, pending: { ...bad, boots: 2 } }));
    // third start (of 3): still tries the pending one; killed before its verdict (stop() interrupts the gate)
    let m = await start(file);
    expect(m.gateway.config.sinks.out).toMatchObject({ path: join(dir, 'bad') });
    await m.stop();
    m = await start(file);
    expect(m.gateway.config.sinks.out).toMatchObject({ path: join(dir, 'good') });
    expect(m.agent.status()).toMatchObject({
      applied_version: 1,
      pending_version: null,
      last_result: { version: 2, outcome: 'rolled_back', reason: 'boot_failed' },
    });
  });

  test('a pending config that passes the gate at boot is committed', async () => {
    const { dir, file } = setup('gw-boot-ok', 100);
    const store = FleetStore.open(join(dir, 'data', 'fleet'));
    const next = { version: 4, digest: 'n', config: { log: { level: 'silent' } }, at_ms: 1 };
    await store.update((s) => ({ ...s, highest_version: 4, pending: { ...next, boots: 0 } }));
    const m = await start(file);
    await until(() => m.agent.status().applied_version === 4, { timeoutMs: 5000, what: 'commit at boot' });
    expect(m.agent.status().last_result).toMatchObject({ version: 4, outcome: 'applied', origin: 'boot' });
  });
});

describe('local reload', () => {
  test('a changed local file is applied in place; an invalid one is refused and the old config runs on', async () => {
    const { dir, file } = setup('gw-local', 100);
    const m = await start(file);
    const op2 = op;
    writeLocal({
      id: 'gw-local',
      dir,
      op: op2,
      labels: ['all'],
      graceMs: 100,
      pipeline: { sources: { sim: sim(30) }, sinks: { out: fileSink(join(dir, 'out')) } },
    });
    expect(await m.reload()).toMatchObject({ version: 0, outcome: 'applied', origin: 'local' });
    expect(m.gateway.config.sources.sim).toMatchObject({ interval_ms: 30 });
    writeFileSync(file, 'gateway: { id: gw-local }\nsinks: { out: { type: file } }\n');
    expect(await m.reload()).toMatchObject({ outcome: 'rejected' });
    writeLocal({ id: 'gw-local', dir, op: op2, labels: ['all', 'new'], graceMs: 100 });
    expect(await m.reload()).toMatchObject({ outcome: 'rejected', reason: 'restart_required' });
    expect(m.gateway.config.sources.sim).toMatchObject({ interval_ms: 30 });
    await m.stop();
    expect(sinkSeqs(join(dir, 'out')).length).toBeGreaterThan(0);
  });
});
