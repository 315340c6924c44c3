// Oversized bundles are refused on their size alone, before any decoding, on both channels; the limit is
// fleet.max_bundle_bytes. A pushed config cannot make the simulator multiply memory either.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { ManagedGateway } from '../../gateway/fleet/managed.js';
import { fleetTopics } from '../../gateway/fleet/mqtt-channel.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { Mosquitto } from '../peers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { bundle, operator, sim, writeLocal } from './helpers.js';

const op = operator();
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s();
});

/** A bundle padded past `bytes` (a long but valid-looking JSON string at the end). */
function big(version: number, bytes: number): string {
  const text = bundle(op, { version, config: {} });
  return `${text.slice(0, -1)},"padding":"${'x'.repeat(bytes)}"}`;
}

function withFleet(file: string, extra: Record<string, unknown>): string {
  const doc = parse(readFileSync(file, 'utf8')) as { fleet: Record<string, unknown> };
  doc.fleet = { ...doc.fleet, ...extra };
  writeFileSync(file, stringify(doc));
  return file;
}

test('HTTP: a body above max_bundle_bytes is refused without being read whole, Content-Length or not', async () => {
  let sent = 0;
  let mode: 'length' | 'chunked' = 'length';
  const total = 10 * 1024 * 1024;
  const server = createServer((req, res) => {
    if (req.headers['if-none-match'] === `"${mode}"`) return res.writeHead(304).end();
    const chunk = Buffer.alloc(64 * 1024, 0x78);
    res.writeHead(200, {
      etag: `"${mode}"`,
      ...(mode === 'length' ? { 'content-length': String(total) } : {}),
    });
    const pump = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  stops.push(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/b.json`;
  const dir = tempDir();
  const file = writeLocal({ id: 'gw-big-http', dir, op, labels: ['all'], httpUrl: url, graceMs: 50 });
  const m = await ManagedGateway.start(file, { log: silentLogger });
  stops.push(() => m.stop());
  await until(() => m.agent.status().last_result?.reason === 'too_large', {
    timeoutMs: 5000,
    what: 'refusal',
  });
  expect(m.agent.status().last_result).toMatchObject({ outcome: 'rejected', origin: 'http' });
  expect(m.agent.status().last_result?.message).toMatch(/above fleet\.max_bundle_bytes \(1048576\)/);
  expect(sent).toBeLessThan(total); // refused on its Content-Length: the body was not read to its end
  const first = m.agent.status().last_result?.at_ms ?? 0;
  mode = 'chunked';
  sent = 0;
  await until(() => (m.agent.status().last_result?.at_ms ?? 0) > first, {
    timeoutMs: 5000,
    what: 'second refusal',
  });
  expect(m.agent.status().last_result).toMatchObject({ outcome: 'rejected', reason: 'too_large' });
  expect(sent).toBeLessThan(total); // cut once the limit was crossed
});

test('MQTT: a retained bundle above max_bundle_bytes is refused as too_large; the limit is configurable', async () => {
  const broker = await Mosquitto.start();
  stops.push(() => broker.stop());
  const dir = tempDir();
  const file = withFleet(
    writeLocal({ id: 'gw-big-mqtt', dir, op, labels: ['all'], mqttUrl: broker.url, graceMs: 50 }),
    { max_bundle_bytes: '64KiB' },
  );
  const m = await ManagedGateway.start(file, { log: silentLogger });
  stops.push(() => m.stop());
  const pub = await mqtt.connectAsync(broker.url);
  stops.push(() => pub.endAsync());
  const topic = fleetTopics.gatewayConfig('sluice/fleet', 'gw-big-mqtt');
  await pub.publishAsync(topic, big(1, 100 * 1024), { qos: 1 });
  await until(() => m.agent.status().last_result?.reason === 'too_large', {
    timeoutMs: 5000,
    what: 'refusal',
  });
  expect(m.agent.status().last_result?.message).toMatch(/above fleet\.max_bundle_bytes \(65536\)/);
  // below the configured limit the same kind of bundle gets to verification (and fails it there)
  await pub.publishAsync(topic, big(2, 1024), { qos: 1 });
  await until(() => m.agent.status().last_result?.reason === 'malformed', {
    timeoutMs: 5000,
    what: 'verification',
  });
  // and a good one is applied
  await pub.publishAsync(topic, bundle(op, { version: 3, config: { sources: { sim: sim(25) } } }), {
    qos: 1,
  });
  await until(() => m.agent.status().applied_version === 3, { timeoutMs: 5000, what: 'v3 applied' });
});

test('a bundle whose simulator would multiply memory (devices x metrics, device_prefix) is refused', async () => {
  const dir = tempDir();
  const file = writeLocal({ id: 'gw-mult', dir, op, labels: ['all'], graceMs: 50 });
  const m = await ManagedGateway.start(file, { log: silentLogger });
  stops.push(() => m.stop());
  const result = await m.agent.submit(
    bundle(op, {
      version: 1,
      config: { sources: { sim: sim(1000, { devices: 100_000, device_prefix: 'p'.repeat(10_000) }) } },
    }),
    { origin: 'test' },
  );
  expect(result).toMatchObject({ outcome: 'rejected', reason: 'invalid_config' });
  expect(result?.message).toMatch(/device_prefix/);
  expect(result?.message).toMatch(/devices x metrics/);
});
