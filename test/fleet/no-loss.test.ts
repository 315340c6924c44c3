// Readings survive any number of config changes: 50 bundles pushed over MQTT while a simulator ingests, each
// replacing the source and the sink (and changing the queue limits); every sequence number the queue assigned
// ends up in the file sink exactly once.
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { FleetView } from '../../gateway/cli/fleet/broker.js';
import { push } from '../../gateway/cli/fleet/push.js';
import { ManagedGateway } from '../../gateway/fleet/managed.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { Mosquitto } from '../peers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { bundle, fileSink, operator, sim, sinkSeqs, writeLocal } from './helpers.js';

const op = operator();
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('50 pushes while ingesting: every queued reading reaches the sink exactly once', async () => {
  const broker = await Mosquitto.start();
  cleanup.push(() => broker.dispose());
  const dir = tempDir();
  const out = join(dir, 'out');
  const file = writeLocal({
    id: 'gw-flow',
    dir,
    op,
    labels: ['all'],
    mqttUrl: broker.url,
    // Long enough for the file sink's connect (mkdir, directory fsync) to return on a loaded machine: the gate
    // counts a connect still pending after the grace as failing, and rolls the bundle back.
    graceMs: 300,
    pipeline: { sources: { sim: sim(5) }, sinks: { out: fileSink(out) } },
  });
  const m = await ManagedGateway.start(file, { log: silentLogger });
  cleanup.push(() => m.stop());
  const view = await FleetView.connect({ broker: broker.url });
  cleanup.push(() => view.close());
  const seqAtStart = m.gateway.queue.stats().lastSeq;
  for (let v = 1; v <= 50; v++) {
    const config = {
      queue: { max_bytes: v % 2 ? '512MiB' : '256MiB', on_full: 'drop_oldest' },
      sources: { sim: sim(5 + (v % 3), { devices: 2 + (v % 2) }) },
      sinks: { out: fileSink(out, { batch: { max_count: 100 + v, linger_ms: 5 } }) },
    };
    const r = await push(view, bundle(op, { version: v, target: { gateways: ['gw-flow'] }, config }), {
      timeoutMs: 10_000,
    });
    expect(r.results).toEqual([{ gateway: 'gw-flow', outcome: 'applied' }]);
  }
  // Stop ingesting (a last bundle without sources) and let the sink catch up.
  const last = bundle(op, { version: 51, target: { gateways: ['gw-flow'] }, config: { sources: {} } });
  expect((await push(view, last, { timeoutMs: 10_000 })).ok).toBe(true);
  const q = m.gateway.queue;
  const lastSeq = q.stats().lastSeq;
  expect(lastSeq - seqAtStart).toBeGreaterThan(500);
  await until(() => q.cursorPosition('out') === lastSeq, {
    timeoutMs: 15_000,
    what: 'the sink to acknowledge everything',
  });
  expect(q.stats().dropped).toBe(0);
  const seqs = sinkSeqs(out);
  expect(new Set(seqs).size).toBe(seqs.length); // no duplicates
  const missing: number[] = [];
  const got = new Set(seqs);
  for (let s = q.origin; s <= lastSeq; s++) if (!got.has(s)) missing.push(s);
  expect(missing).toEqual([]);
  expect(seqs.length).toBe(lastSeq - q.origin + 1);
}, 120_000);
