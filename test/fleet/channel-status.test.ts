// What an operator sees of the fleet channels and of local reloads: their state in /api/status, in
// `sluice status` and in readiness warnings, and a log that warns once rather than at every attempt.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { fetchStatus, formatStatus } from '../../gateway/cli/status.js';
import { ManagedGateway } from '../../gateway/fleet/managed.js';
import { ObserveServer } from '../../gateway/observe/http-server.js';
import { freePort } from '../helpers/net.mjs';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { fileSink, operator, sim, writeLocal } from './helpers.js';

const op = operator();
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s();
});

function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n'))
        if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

async function observe(m: ManagedGateway): Promise<string> {
  const server = await ObserveServer.start(m.gateway, { port: 0, listen: '127.0.0.1' });
  stops.push(() => server.close());
  return server.url;
}

test('an unreachable fleet broker: state in /api/status, `sluice status` and readyz; one warning, backoff', async () => {
  const port = await freePort(); // nothing listens there
  const dir = tempDir();
  const file = writeLocal({
    id: 'gw-nobroker',
    dir,
    op,
    labels: ['all'],
    mqttUrl: `mqtt://127.0.0.1:${port}`,
  });
  const { log, lines } = capture();
  const m = await ManagedGateway.start(file, { log });
  stops.push(() => m.stop());
  const channel = () => m.gateway.status().control?.channels[0];
  await until(() => (channel()?.attempts ?? 0) >= 4, { timeoutMs: 10_000, what: 'four failed attempts' });
  expect(channel()).toMatchObject({
    channel: 'mqtt',
    url: `mqtt://127.0.0.1:${port}`,
    state: 'connecting',
    lastError: { message: expect.stringMatching(/ECONNREFUSED/) as unknown },
  });
  expect(channel()?.nextRetryAt).toBeGreaterThan(0);
  // the log: the first failure warns; the next ones (within a minute) are counted at debug level
  const warns = lines.filter((l) => l.level === 40 && l.component === 'fleet');
  expect(warns.map((l) => l.msg)).toEqual(['fleet channel unreachable; retrying']);
  // reconnects back off from reconnect_period_ms (200 in the helper)
  const retries = lines
    .filter((l) => l.msg === 'fleet channel unreachable; retrying')
    .map((l) => l.retry_in_ms as number);
  expect(Math.max(...retries)).toBeGreaterThan(200);

  const url = await observe(m);
  const s = await fetchStatus(url);
  expect(s.control?.channels[0]).toMatchObject({ channel: 'mqtt', state: 'connecting' });
  expect(s.health.warnings.join('\n')).toMatch(
    /fleet mqtt channel mqtt:\/\/127\.0\.0\.1:\d+: not reachable, \d+ failed attempts, last error: .*ECONNREFUSED/,
  );
  expect(formatStatus(s, url).join('\n')).toMatch(
    /^fleet {3}mqtt mqtt:\/\/127\.0\.0\.1:\d+ {2}UNREACHABLE, \d+ failed attempts/m,
  );
  const ready = (await (await fetch(`${url}/readyz`)).json()) as { warnings: string[] };
  expect(ready.warnings.join('\n')).toMatch(/fleet mqtt channel/);
}, 20_000);

test('an unreachable bundle URL shows the same way', async () => {
  const port = await freePort();
  const dir = tempDir();
  const file = writeLocal({
    id: 'gw-nourl',
    dir,
    op,
    labels: ['all'],
    httpUrl: `http://127.0.0.1:${port}/b.json`,
  });
  const m = await ManagedGateway.start(file, { log: capture().log });
  stops.push(() => m.stop());
  await until(() => (m.gateway.status().control?.channels[0]?.attempts ?? 0) >= 2, {
    timeoutMs: 10_000,
    what: 'failed polls',
  });
  expect(m.gateway.status().control?.channels[0]).toMatchObject({ channel: 'http', state: 'connecting' });
}, 20_000);

test("a plain gateway's rejected reload shows in /api/status and `sluice status`", async () => {
  const dir = tempDir();
  const doc = {
    gateway: { id: 'gw-plain', data_dir: join(dir, 'data') },
    log: { level: 'silent' },
    observe: { http: { enabled: false } },
    sources: { sim: sim() },
    sinks: { out: fileSink(join(dir, 'out')) },
  };
  const file = join(dir, 'sluice.yaml');
  writeFileSync(file, stringify(doc));
  const m = await ManagedGateway.start(file, { log: capture().log });
  stops.push(() => m.stop());
  const url = await observe(m);
  expect((await fetchStatus(url)).control).toEqual({ channels: [], reload: null });
  writeFileSync(file, stringify({ ...doc, sinks: { out: { type: 'file' } } }));
  expect(await m.reload()).toMatchObject({ outcome: 'rejected', reason: 'invalid_config' });
  const s = await fetchStatus(url);
  expect(s.control?.reload).toMatchObject({
    result: 'failed',
    outcome: 'rejected',
    reason: 'invalid_config',
    error: expect.stringMatching(/sinks\.out\.path/) as unknown,
  });
  expect(formatStatus(s, url).join('\n')).toMatch(
    /^reload {2}FAILED \(rejected: invalid_config\) \d+s ago: .*sinks\.out\.path/m,
  );
  writeFileSync(file, stringify(doc));
  expect(await m.reload()).toMatchObject({ outcome: 'applied' });
  expect((await fetchStatus(url)).control?.reload).toMatchObject({ result: 'ok', outcome: 'applied' });
}, 20_000);
