// The operator commands against a real `sluice run` (compiled) on a Mosquitto fleet broker: keygen, sign,
// push, status; SIGHUP reloads the local file in place; SIGKILL leaves the Last Will's `offline`.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test, vi } from 'vitest';
import { stringify } from 'yaml';
import { FleetView } from '../../gateway/cli/fleet/broker.js';
import { fleetKeygenCommand, fleetSignCommand } from '../../gateway/cli/fleet/keys.js';
import { fleetPushCommand } from '../../gateway/cli/fleet/push.js';
import { fleetStatusCommand } from '../../gateway/cli/fleet/status.js';
import { cliPath } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { Mosquitto } from '../peers/mosquitto.js';
import { fileSink, sim } from '../fleet/helpers.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** Runs a command in-process and returns its exit code and what it printed. */
async function cli(
  cmd: { run(args: string[]): Promise<number> },
  args: string[],
): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  try {
    return { code: await cmd.run(args), out };
  } finally {
    spy.mockRestore();
  }
}

function local(dir: string, brokerUrl: string, intervalMs: number): Record<string, unknown> {
  return {
    gateway: { id: 'gw-cli', data_dir: join(dir, 'data') },
    log: { level: 'warn' },
    observe: { http: { enabled: false } },
    sources: { sim: sim(intervalMs) },
    sinks: { out: fileSink(join(dir, 'out')) },
    fleet: {
      labels: ['all'],
      trusted_keys: [{ id: 'ops', public_key_file: join(dir, 'keys', 'ops.pub') }],
      health_grace_ms: 200,
      mqtt: { url: brokerUrl, heartbeat_interval_ms: 300, keepalive_s: 5 },
    },
  };
}

test('keygen, sign, push, status against `sluice run`; SIGHUP reloads; SIGKILL shows offline', async () => {
  const broker = await Mosquitto.start();
  cleanup.push(() => broker.dispose());
  const dir = tempDir();
  const keygen = await cli(fleetKeygenCommand, ['--out', join(dir, 'keys'), '--key-id', 'ops']);
  expect(keygen.code).toBe(0);
  expect(keygen.out).toMatch(/public_key_file: .*ops\.pub/);
  expect(readFileSync(join(dir, 'keys', 'ops.key'), 'utf8')).toMatch(/BEGIN PRIVATE KEY/);

  const file = join(dir, 'sluice.yaml');
  writeFileSync(file, stringify(local(dir, broker.url, 20)));
  const child: ChildProcess = spawn(process.execPath, [cliPath, 'run', '-c', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stdout?.on('data', (b: Buffer) => (logs += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (logs += b.toString()));
  cleanup.push(() => void child.kill('SIGKILL'));
  const view = await FleetView.connect({ broker: broker.url });
  cleanup.push(() => view.close());
  const seen = await view.waitFor(() => view.gateways.get('gw-cli')?.status, 15_000);
  expect(seen, logs).toMatchObject({ applied_version: 0, state: 'running' });

  writeFileSync(join(dir, 'pipeline.yaml'), stringify({ sources: { sim: sim(25) } }));
  const bundleFile = join(dir, 'bundle.json');
  const signArgs = ['--key', join(dir, 'keys', 'ops.key'), '--key-id', 'ops', '--version', '7'];
  const signed = await cli(fleetSignCommand, [
    ...signArgs,
    '--label',
    'all',
    '-o',
    bundleFile,
    join(dir, 'pipeline.yaml'),
  ]);
  expect(signed.code).toBe(0);
  const pushed = await cli(fleetPushCommand, ['--broker', broker.url, '--timeout-ms', '10000', bundleFile]);
  expect(pushed.out).toMatch(/gw-cli\s+applied/);
  expect(pushed.code).toBe(0);

  const status = await cli(fleetStatusCommand, ['--broker', broker.url, '--wait-ms', '300']);
  expect(status.code).toBe(0);
  expect(status.out).toMatch(/GATEWAY\s+VERSION\s+STATE/);
  expect(status.out).toMatch(/gw-cli\s+7\s+running\s+healthy\s+\d+\s+\d+s ago\s+v7 applied/);

  // A local edit + SIGHUP: applied in place (no restart: same uptime origin), reported as a local change.
  const before = view.gateways.get('gw-cli')?.status?.uptime_ms ?? 0;
  const edited = local(dir, broker.url, 20);
  edited.sinks = { out: fileSink(join(dir, 'out'), { batch: { max_count: 50 } }) };
  writeFileSync(file, stringify(edited));
  child.kill('SIGHUP');
  const reloaded = await view.waitFor(() => {
    const s = view.gateways.get('gw-cli')?.status;
    return s?.last_result?.origin === 'local' ? s : undefined;
  }, 10_000);
  expect(reloaded, logs).toMatchObject({
    applied_version: 7,
    last_result: { outcome: 'applied', version: 0 },
  });
  expect(reloaded?.uptime_ms).toBeGreaterThanOrEqual(before);

  child.kill('SIGKILL');
  await view.waitFor(() => (view.gateways.get('gw-cli')?.online === false ? true : undefined), 10_000);
  expect(view.gateways.get('gw-cli')?.online).toBe(false);
}, 60_000);
