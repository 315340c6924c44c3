// Several gateways on a real Mosquitto fleet broker: pushes to one gateway and to a label, the retained
// status and `fleet status` table, every rejection reported back, rollbacks reported, staged rollouts.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { push } from '../../gateway/cli/fleet/push.js';
import { FleetView } from '../../gateway/cli/fleet/broker.js';
import { formatTable, statusRows } from '../../gateway/cli/fleet/status.js';
import { ManagedGateway } from '../../gateway/fleet/managed.js';
import { fleetTopics } from '../../gateway/fleet/mqtt-channel.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { Mosquitto } from '../peers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { bundle, fileSink, operator, sim, writeLocal } from './helpers.js';

const op = operator('ops');
const LABELS: Record<string, string[]> = {
  'gw-a': ['all', 'site-x'],
  'gw-b': ['all', 'site-x'],
  'gw-c': ['all', 'site-y'],
};
let broker: Mosquitto;
let view: FleetView;
const root = tempDir();
const gateways = new Map<string, ManagedGateway>();

beforeAll(async () => {
  broker = await Mosquitto.start();
  for (const [id, labels] of Object.entries(LABELS)) {
    const dir = join(root, id);
    const file = writeLocal({ id, dir, op, labels, mqttUrl: broker.url, graceMs: 300 });
    gateways.set(id, await ManagedGateway.start(file, { log: silentLogger, softwareVersion: '9.9.9' }));
  }
  view = await FleetView.connect({ broker: broker.url });
  await view.waitFor(() => (view.gateways.size === 3 ? true : undefined), 10_000);
});

afterAll(async () => {
  await view?.close();
  await Promise.all([...gateways.values()].map((g) => g.stop()));
  await broker?.dispose();
});

function gw(id: string): ManagedGateway {
  const g = gateways.get(id);
  if (!g) throw new Error(`no gateway ${id}`);
  return g;
}

const pipeline = (id: string, tag: string) => ({
  sources: { sim: sim(50) },
  sinks: { out: fileSink(join(root, id, `out-${tag}`)) },
});

describe('push and status', () => {
  test('a bundle pushed to one gateway is applied there only, and its retained status says so', async () => {
    const text = bundle(op, {
      version: 1,
      target: { gateways: ['gw-a'] },
      config: { log: { level: 'silent' }, ...pipeline('x', 'v1') },
    });
    const r = await push(view, text, { timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: true, version: 1, results: [{ gateway: 'gw-a', outcome: 'applied' }] });
    expect(gw('gw-a').gateway.config.sinks.out).toMatchObject({ path: join(root, 'x', 'out-v1') });
    expect(gw('gw-b').agent.status().applied_version).toBe(0);
    const s = await view.waitFor(() => {
      const st = view.gateways.get('gw-a')?.status;
      return st?.applied_version === 1 ? st : undefined;
    }, 5000);
    expect(s).toMatchObject({
      gateway: 'gw-a',
      labels: ['all', 'site-x'],
      software_version: '9.9.9',
      state: 'running',
      health: { state: 'healthy', problems: [] },
      last_result: { version: 1, outcome: 'applied', origin: 'mqtt' },
    });
    expect(s?.queue.depth).toBeGreaterThanOrEqual(0);
    expect(s?.uptime_ms).toBeGreaterThan(0);
    // heartbeats refresh the retained status
    const at = s?.at_ms ?? 0;
    await view.waitFor(() => ((view.gateways.get('gw-a')?.status?.at_ms ?? 0) > at ? true : undefined), 3000);
    const table = formatTable(statusRows(view.gateways, Date.now()));
    expect(table).toMatch(/^GATEWAY\s+VERSION\s+STATE\s+HEALTH\s+QUEUE LAG\s+LAST SEEN\s+LAST RESULT/);
    expect(table).toMatch(/gw-a\s+1\s+running\s+healthy\s+\d+\s+\d+s ago\s+v1 applied/);
    expect(table).toMatch(/gw-c\s+0\s+running\s+healthy/);
  });

  test('a bundle for a label reaches every gateway holding it', async () => {
    const text = bundle(op, { version: 2, target: { labels: ['site-x'] }, config: pipeline('x', 'v2') });
    const r = await push(view, text, { timeoutMs: 10_000 });
    expect(r.ok).toBe(true);
    expect(r.results.map((g) => g.gateway).sort()).toEqual(['gw-a', 'gw-b']);
    expect(gw('gw-b').agent.status().applied_version).toBe(2);
    expect(gw('gw-c').agent.status().applied_version).toBe(0);
  });
});

describe('each rejection is reported with its reason', () => {
  const topic = () => fleetTopics.gatewayConfig(view.prefix, 'gw-c');
  async function reported(text: string, version: number): Promise<{ reason?: string; message?: string }> {
    const before = view.gateways.get('gw-c')?.status?.last_result?.at_ms ?? 0;
    await view.publishRetained(topic(), text);
    const r = await view.waitFor(() => {
      const lr = view.gateways.get('gw-c')?.status?.last_result;
      return lr && lr.at_ms > before && lr.version === version ? lr : undefined;
    }, 5000);
    expect(r?.outcome).toBe('rejected');
    return r ?? {};
  }

  test('bad signature, unknown key, expired, stale version, other target, invalid config', async () => {
    const ok = JSON.parse(bundle(op, { version: 10, target: { gateways: ['gw-c'] } })) as Record<
      string,
      string
    >;
    const sig = Buffer.from(ok.signature ?? '', 'base64');
    sig[0] = (sig[0] ?? 0) ^ 0xff;
    expect(await reported(JSON.stringify({ ...ok, signature: sig.toString('base64') }), 0)).toMatchObject({
      reason: 'bad_signature',
    });
    expect(await reported(bundle(operator('intruder'), { version: 10 }), 0)).toMatchObject({
      reason: 'unknown_key',
    });
    const expired = bundle(op, {
      version: 10,
      target: { gateways: ['gw-c'] },
      expires_at_ms: Date.now() - 1000,
    });
    expect(await reported(expired, 10)).toMatchObject({ reason: 'expired' });
    expect(await reported(bundle(op, { version: 10, target: { gateways: ['gw-b'] } }), 10)).toMatchObject({
      reason: 'wrong_target',
    });
    const invalid = bundle(op, {
      version: 10,
      target: { gateways: ['gw-c'] },
      config: { sinks: { out: { type: 'file' } } },
    });
    const inv = await reported(invalid, 10);
    expect(inv).toMatchObject({ reason: 'invalid_config' });
    expect(inv.message).toMatch(/sinks\.out\.path/);
    // a good one at 10, then 9 is stale
    await view.publishRetained(topic(), bundle(op, { version: 10, target: { gateways: ['gw-c'] } }));
    await until(() => gw('gw-c').agent.status().applied_version === 10, {
      timeoutMs: 5000,
      what: 'v10 on gw-c',
    });
    expect(await reported(bundle(op, { version: 9, target: { gateways: ['gw-c'] } }), 9)).toMatchObject({
      reason: 'stale_version',
    });
    expect(gw('gw-c').agent.status().applied_version).toBe(10);
  });
});

describe('rollback and staged rollout', () => {
  test('a bundle whose sink cannot write is rolled back and reported', async () => {
    writeFileSync(join(root, 'regular-file'), 'x');
    const broken = { sinks: { out: fileSink(join(root, 'regular-file', 'out')) } };
    const r = await push(view, bundle(op, { version: 20, target: { gateways: ['gw-b'] }, config: broken }), {
      timeoutMs: 10_000,
    });
    expect(r).toMatchObject({
      ok: false,
      results: [{ gateway: 'gw-b', outcome: 'rolled_back', reason: 'unhealthy' }],
    });
    expect(r.results[0]?.message).toMatch(/ENOTDIR/);
    expect(gw('gw-b').agent.status()).toMatchObject({ applied_version: 2, highest_version: 20 });
  });

  test('a staged rollout stops at a failing canary: the others never get the bundle', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const config = {
        sources: {
          sim: sim(50),
          devices: {
            type: 'mqtt_broker',
            listeners: [{ type: 'tcp', host: '127.0.0.1', port, allow_anonymous: true }],
          },
        },
      };
      const text = bundle(op, { version: 30, target: { labels: ['all'] }, config });
      const r = await push(view, text, { canaries: ['gw-a'], timeoutMs: 10_000 });
      expect(r).toMatchObject({
        ok: false,
        stoppedAtCanary: 'gw-a',
        results: [{ gateway: 'gw-a', outcome: 'rolled_back', reason: 'apply_failed' }],
      });
      await new Promise((res) => setTimeout(res, 300));
      expect(gw('gw-b').agent.status().highest_version).toBe(20);
      expect(gw('gw-c').agent.status().highest_version).toBe(10);
    } finally {
      blocker.close();
    }
  });

  test('a staged rollout that passes its canary reaches the rest', async () => {
    const text = bundle(op, {
      version: 40,
      target: { labels: ['all'] },
      config: { sources: { sim: sim(40) } },
    });
    const r = await push(view, text, { canaries: ['gw-c'], timeoutMs: 10_000 });
    expect(r.ok).toBe(true);
    expect(r.results.map((g) => `${g.gateway}:${g.outcome}`)).toEqual([
      'gw-c:applied',
      'gw-a:applied',
      'gw-b:applied',
    ]);
    // the canary got it twice (its own topic, then the group's) and reported nothing more
    expect(gw('gw-c').agent.status().last_result).toMatchObject({ version: 40, outcome: 'applied' });
  });

  test('a stopped gateway shows as offline', async () => {
    await gw('gw-c').stop();
    gateways.delete('gw-c');
    await view.waitFor(() => (view.gateways.get('gw-c')?.online === false ? true : undefined), 5000);
    expect(formatTable(statusRows(view.gateways, Date.now()))).toMatch(/gw-c\s+40\s+offline/);
  });
});
