// A whole gateway with processors on both sides, over real MQTT: a device's messages go through the
// broker's source chain (filter, deadband) before the durable append, and every one of them is PUBACKed,
// dropped or stored; a file sink with its own filter gets only what it selects from the one stored copy,
// and its cursor is acked past the entries it dropped, while a raw file sink gets everything stored.

import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { validateConfig } from '../../gateway/config/load.js';
import { checkHealth } from '../../gateway/observe/health.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { renderStatusPage } from '../../gateway/observe/status-page.js';
import { renderTop } from '../../gateway/cli/top.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { freePort } from '../helpers/net.mjs';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { connectClient } from '../sources/mqtt-harness.js';
import { fileSinkRecords } from '../helpers/readings.js';

let gw: Gateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

test('source chain before the append, sink chain at read time: acks, stored copy, deliveries and counts', async () => {
  const dir = tempDir('sluice-proc-');
  const port = await freePort('127.0.0.1');
  const fileSink = (name: string): Record<string, unknown> => ({
    type: 'file',
    path: join(dir, name),
    roll_interval_ms: 100,
    start_from: 'oldest',
    batch: { linger_ms: 5, max_count: 3 },
  });
  const config = validateConfig({
    gateway: { id: 'gw-proc', data_dir: join(dir, 'data') },
    log: { level: 'silent' },
    observe: { http: { enabled: false } },
    sources: {
      broker: {
        type: 'mqtt_broker',
        listeners: [{ type: 'tcp', host: '127.0.0.1', port, allow_anonymous: true }],
        topics: [{ topic: 'sensors/{device}/{metric}', decoder: 'number' }],
        processors: [
          { type: 'filter', expr: "metric != 'debug'" },
          { type: 'deadband', band: 1 },
        ],
      },
    },
    sinks: {
      raw: fileSink('raw'),
      hot: { ...fileSink('hot'), processors: [{ type: 'filter', name: 'hot-only', expr: 'value > 25.0' }] },
    },
  });
  gw = await Gateway.start(config, { log: silentLogger });
  const dev = await connectClient(`mqtt://127.0.0.1:${port}`, { clientId: 'd1' });
  const values = [20, 20.5, 21.5, 21.8, 30, 30.2, 26, 10];
  try {
    // QoS 1: each publishAsync resolves on its PUBACK, which the broker sends only after the append, or
    // after the chain dropped the reading (handled: nothing to store, nothing to re-send).
    await dev.publishAsync('sensors/d1/debug', '1', { qos: 1 });
    for (const v of values) await dev.publishAsync('sensors/d1/temperature', String(v), { qos: 1 });
  } finally {
    await dev.endAsync();
  }
  const queue = gw.queue;
  const stored = queue.readSized(0, 1000).readings;
  // Deadband at 1: 20.5 (0.5 from 20), 21.8 (0.3 from 21.5) and 30.2 are within the band.
  expect(stored.map((r) => r.value)).toEqual([20, 21.5, 30, 26, 10]);
  const last = queue.lastSeq;
  const cursors = (): Record<string, number> =>
    Object.fromEntries(queue.stats().cursors.map((c) => [c.name, c.acked]));
  await until(() => cursors().raw === last && cursors().hot === last, {
    what: 'both cursors acked through the last stored reading',
    timeoutMs: 15_000,
    state: cursors,
  });
  expect(fileSinkRecords(join(dir, 'raw')).map((r) => r.value)).toEqual([20, 21.5, 30, 26, 10]);
  // The filtered sink got only what its filter selects, with the stored readings' ids.
  const hot = fileSinkRecords(join(dir, 'hot'));
  expect(hot.map((r) => r.value)).toEqual([30, 26]);
  expect(hot.map((r) => r.id)).toEqual(
    stored.filter((r) => (r.value as number) > 25).map((r) => `gw-proc:${String(r.seq)}`),
  );

  const totals = Object.fromEntries(
    gw.metrics.processorTotals().map((t) => [`${t.kind}/${t.component}/${t.processor}`, t]),
  );
  expect(totals['source/broker/1-filter']).toMatchObject({ in: 9, out: 8, dropped: { filtered: 1 } });
  expect(totals['source/broker/2-deadband']).toMatchObject({ in: 8, out: 5, dropped: { in_band: 3 } });
  expect(totals['sink/hot/hot-only']).toMatchObject({ in: 5, out: 2, dropped: { filtered: 3 } });
  const components = Object.fromEntries(gw.metrics.componentTotals().map((c) => [`${c.kind}/${c.id}`, c]));
  expect(components['source/broker']).toMatchObject({ receivedEvents: 9, sentEvents: 5, discardedEvents: 4 });
  // A sink counts as sent what it delivered, not the entries its chain dropped.
  expect(components['sink/hot']).toMatchObject({ receivedEvents: 5, sentEvents: 2 });
  expect(components['sink/raw']).toMatchObject({ receivedEvents: 5, sentEvents: 5 });
  const text = await gw.metrics.registry.metrics();
  expect(text).toMatch(
    /sluice_processor_dropped_events_total\{[^}]*component_id="broker",processor="2-deadband",processor_type="deadband",reason="in_band"[^}]*\} 3/,
  );
  expect(text).toMatch(/sluice_processor_out_events_total\{[^}]*processor="hot-only"[^}]*\} 2/);

  // The same counts in `sluice top` and on the status page.
  const health = await checkHealth(gw, 'ready');
  const snapshot = {
    ...gw.status(),
    now: Date.now(),
    components: gw.metrics.componentTotals(),
    processors: gw.metrics.processorTotals(),
    errors: [],
    health,
  };
  const top = renderTop(snapshot, undefined, 'http://x').join('\n');
  expect(top).toMatch(/source broker\s+2-deadband\s+-\s+-\s+in_band 3 \/ -/);
  expect(top).toMatch(/sink hot\s+hot-only\s+-\s+-\s+filtered 3 \/ -/);
  const page = renderStatusPage({
    now: snapshot.now,
    status: snapshot,
    health,
    totals: snapshot.components,
    processors: snapshot.processors,
    errors: [],
    history: [],
    windowMs: 60_000,
    refreshSeconds: 10,
  });
  expect(page).toContain('<h2>Processors</h2>');
  expect(page).toMatch(
    /<td>sink hot<\/td><td>hot-only<\/td><td>filter<\/td><td><span class="num">5<\/span><\/td><td><span class="num">2<\/span><\/td><td>filtered 3<\/td>/,
  );
});
