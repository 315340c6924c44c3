// HTTP pull: the gateway polls a URL with If-None-Match; a new bundle there is applied like one from MQTT.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { fleetHttpSchema } from '../../gateway/config/bootstrap-schema.js';
import type { FleetAgent } from '../../gateway/fleet/agent.js';
import { HttpChannel } from '../../gateway/fleet/http-channel.js';
import { ManagedGateway } from '../../gateway/fleet/managed.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { bundle, operator, sim, writeLocal } from './helpers.js';

const op = operator();
let body = '';
const requests: Array<{ headers: IncomingHttpHeaders; status: number }> = [];
const server = createServer((req, res) => {
  const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
  const status = body === '' ? 404 : req.headers['if-none-match'] === etag ? 304 : 200;
  requests.push({ headers: req.headers, status });
  if (status !== 200) return res.writeHead(status).end();
  res.writeHead(200, { etag, 'content-type': 'application/json' }).end(body);
});
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const s of stops) await s();
  server.close();
});

test('polls with ETag: applies a new bundle once, then only revalidates', async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fleet/gw-http.json`;
  const dir = tempDir();
  const file = writeLocal({ id: 'gw-http', dir, op, labels: ['all'], httpUrl: url, graceMs: 50 });
  const m = await ManagedGateway.start(file, { log: silentLogger });
  stops.push(() => m.stop());
  await until(() => requests.length > 0, { timeoutMs: 5000, what: 'a first poll' });
  body = bundle(op, { version: 1, config: { sources: { sim: sim(33) } } });
  await until(() => m.agent.status().applied_version === 1, { timeoutMs: 5000, what: 'v1 applied' });
  expect(m.agent.status().last_result).toMatchObject({ version: 1, outcome: 'applied', origin: 'http' });
  expect(m.gateway.config.sources.sim).toMatchObject({ interval_ms: 33 });
  const n = requests.length;
  await until(() => requests.length > n + 2, { timeoutMs: 5000, what: 'more polls' });
  expect(requests.slice(n).every((r) => r.status === 304 && r.headers['if-none-match'])).toBe(true);
  body = bundle(op, { version: 2, config: { sources: { sim: sim(34) } } });
  await until(() => m.agent.status().applied_version === 2, { timeoutMs: 5000, what: 'v2 applied' });
  expect(m.gateway.config.sources.sim).toMatchObject({ interval_ms: 34 });
});

test('the bearer token is the first line of token_file, without a CR; an empty one is a config error', async () => {
  const dir = tempDir();
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 's3cret\r\nsecond line\r\n');
  const seen: Array<string | undefined> = [];
  const tokenServer = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/b.json`;
  const config = fleetHttpSchema.parse({ url, poll_interval_ms: 100, token_file: tokenFile });
  const agent = { submit: () => Promise.resolve(undefined) } as unknown as FleetAgent;
  const channel = new HttpChannel(agent, config, silentLogger);
  channel.start();
  try {
    await until(() => seen.length > 0, { timeoutMs: 5000, what: 'a first poll' });
    expect(seen[0]).toBe('Bearer s3cret');
  } finally {
    await channel.stop();
    tokenServer.close();
  }
  writeFileSync(tokenFile, '\n');
  expect(() => new HttpChannel(agent, config, silentLogger)).toThrow(
    expect.objectContaining({ code: 'SLUICE_CONFIG_INVALID' }),
  );
});
