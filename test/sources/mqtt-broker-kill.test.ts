// PUBACK means "on disk": the real `sluice run` in a child process is SIGKILLed at random moments while MQTT.js
// clients publish QoS 1; after every round, every message whose PUBACK a client received is in the queue.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Queue } from '../../gateway/queue/queue.js';
import { freePort, waitForPort } from '../helpers/net.mjs';
import { tempDir } from '../helpers/tmp.js';

const ROOT = resolve(import.meta.dirname, '../..');
const ROUNDS = 20;
const PUBLISHERS = 4;
/** Messages each publisher keeps in flight (unacknowledged) at once. */
const WINDOW = 16;

const clientErrors: string[] = [];
let build: string;
let work: string;

/**
 * Compiles gateway/ into a private directory rather than dist/: other test files and engineers build dist/
 * concurrently, and a half-written dist/ would make this test flaky. tsc emits even if an unrelated file has
 * a type error (noEmitOnError is off); the typecheck in CI catches those.
 */
beforeAll(() => {
  build = join(ROOT, 'node_modules', '.cache', `sluice-kill-test-${process.pid}`);
  mkdirSync(build, { recursive: true });
  const tsconfig = join(build, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.build.json'),
      compilerOptions: { outDir: build, rootDir: ROOT, noEmit: false, sourceMap: false, incremental: false },
      include: [join(ROOT, 'gateway/**/*.ts')],
      exclude: [],
    }),
  );
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], {
    encoding: 'utf8',
  });
  if (!existsSync(join(build, 'gateway/cli/main.js')))
    throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
  // Under node_modules/, Node does not look further up for package.json: say ESM here.
  writeFileSync(join(build, 'package.json'), '{"type":"module"}\n');
  work = tempDir('sluice-kill-');
}, 120_000);

afterAll(() => {
  if (build) rmSync(build, { recursive: true, force: true });
});

function startGateway(config: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [join(build, 'gateway/cli/main.js'), 'run', '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  return { child, output: () => out };
}

/** Publishes QoS 1 with a window of unacknowledged messages until the connection dies; records PUBACKed values. */
function publisher(
  port: number,
  id: string,
  base: number,
  acked: Set<number>,
): { client: MqttClient; stop: () => void } {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId: id,
    reconnectPeriod: 0,
    connectTimeout: 3000,
  });
  let next = base;
  let stopped = false;
  const send = (): void => {
    if (stopped || !client.connected) return;
    const value = next++;
    client.publish(`k/${id}/n`, String(value), { qos: 1 }, (err) => {
      if (err) return; // not acknowledged: the connection died with it in flight; nothing is claimed
      acked.add(value);
      send();
    });
  };
  client.on('connect', () => {
    for (let i = 0; i < WINDOW; i++) send();
  });
  // A killed gateway makes errors expected; they are kept for the failure message, and only PUBACKs count.
  client.on('error', (err) => clientErrors.push(`${id}: ${err.message}`));
  return {
    client,
    stop: () => {
      stopped = true;
      client.end(true);
    },
  };
}

test(`every PUBACKed message survives SIGKILL (${ROUNDS} rounds)`, async () => {
  const port = await freePort();
  const dataDir = join(work, 'data');
  const config = join(work, 'sluice.yaml');
  writeFileSync(
    config,
    [
      'gateway: { id: kill-test, data_dir: ' + JSON.stringify(dataDir) + ' }',
      'log: { level: warn }',
      'sources:',
      '  devices:',
      '    type: mqtt_broker',
      `    listeners: [{ type: tcp, host: 127.0.0.1, port: ${port}, allow_anonymous: true }]`,
      '    topics: [{ topic: "k/{device}/{metric}", decoder: number }]',
      '',
    ].join('\n'),
  );
  const acked = new Set<number>();
  for (let round = 0; round < ROUNDS; round++) {
    const gw = startGateway(config);
    await waitForPort(port, '127.0.0.1', 15_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${gw.output()}`);
    });
    const pubs = Array.from({ length: PUBLISHERS }, (_, p) =>
      publisher(port, `dev${p}`, round * 1_000_000 + p * 100_000, acked),
    );
    // Kill only once this round has PUBACKs of its own (a loaded machine can take seconds to get there), then
    // at a random moment of the flow, so every round tests acknowledged messages in flight.
    const before = acked.size;
    const deadline = Date.now() + 20_000;
    while (acked.size < before + 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 300));
    const exited = new Promise((r) => gw.child.once('exit', r));
    gw.child.kill('SIGKILL');
    await exited;
    for (const p of pubs) p.stop();
  }
  const queue = Queue.open({
    dir: join(dataDir, 'queue'),
    maxBytes: 1,
    onFull: 'reject_new',
    readOnly: true,
  });
  try {
    const stored = new Set(queue.readSized(0, 10_000_000).readings.map((r) => r.value));
    const lost = [...acked].filter((v) => !stored.has(v));
    expect(acked.size).toBeGreaterThan(ROUNDS * 50);
    expect(lost, `client errors: ${clientErrors.slice(0, 5).join('; ')}`).toEqual([]);
  } finally {
    await queue.close();
  }
}, 180_000);
