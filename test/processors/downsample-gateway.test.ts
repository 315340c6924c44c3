// downsample max_abs on a real gateway's sink: readings over real MQTT are stored raw (a raw file sink
// gets them all) and a second file sink gets, per device and interval, exactly the stored reading of
// largest magnitude, with its stored id and seq; both cursors are acked through the end afterwards.

import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { validateConfig } from '../../gateway/config/load.js';
import { silentLogger } from '../../gateway/observe/log.js';
import type { ReadingRecord } from '../../gateway/reading.js';
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

test('a sink with downsample max_abs gets the largest stored reading of each interval, ids kept', async () => {
  const dir = tempDir('sluice-ds-');
  const port = await freePort('127.0.0.1');
  const interval = 200;
  const fileSink = (name: string): Record<string, unknown> => ({
    type: 'file',
    path: join(dir, name),
    roll_interval_ms: 100,
    start_from: 'oldest',
    batch: { linger_ms: 5, max_count: 4 },
  });
  gw = await Gateway.start(
    validateConfig({
      gateway: { id: 'gw-ds', data_dir: join(dir, 'data') },
      log: { level: 'silent' },
      observe: { http: { enabled: false } },
      sources: {
        broker: {
          type: 'mqtt_broker',
          listeners: [{ type: 'tcp', host: '127.0.0.1', port, allow_anonymous: true }],
          topics: [{ topic: 'sensors/{device}/{metric}', decoder: 'number' }],
        },
      },
      sinks: {
        raw: fileSink('raw'),
        peaks: {
          ...fileSink('peaks'),
          // Lateness well above the gap between a reading's ts and its append: none is late here.
          processors: [
            {
              type: 'downsample',
              interval_ms: interval,
              mode: 'max_abs',
              allowed_lateness_ms: 1000,
              idle_grace_ms: 100,
            },
          ],
        },
      },
    }),
    { log: silentLogger },
  );
  const devs = await Promise.all(
    ['a', 'b'].map((id) => connectClient(`mqtt://127.0.0.1:${port}`, { clientId: id })),
  );
  try {
    for (let i = 0; i < 40; i++)
      for (const [k, dev] of devs.entries())
        await dev.publishAsync(`sensors/${k === 0 ? 'a' : 'b'}/t`, String(((i * 7 + k * 3) % 11) - 5), {
          qos: 1,
        });
  } finally {
    await Promise.all(devs.map((d) => d.endAsync()));
  }
  const last = gw.queue.lastSeq;
  const cursors = (): Record<string, number> =>
    Object.fromEntries(gw?.queue.stats().cursors.map((c) => [c.name, c.acked]) ?? []);
  // The last intervals close by the idle flush (end + lateness + grace by the wall clock).
  await until(() => cursors().raw === last && cursors().peaks === last, {
    what: 'both cursors acked through the last stored reading',
    timeoutMs: 15_000,
    state: cursors,
  });
  const raw = fileSinkRecords(join(dir, 'raw'));
  expect(raw).toHaveLength(80);
  const best = new Map<string, ReadingRecord>();
  for (const r of raw) {
    const key = `${r.device}/${Math.floor(r.ts / interval)}`;
    const b = best.get(key);
    if (!b || Math.abs(r.value as number) >= Math.abs(b.value as number)) best.set(key, r);
  }
  const peaks = fileSinkRecords(join(dir, 'peaks'));
  // The very records of the raw copy: same id, seq, value and ts, in seq order, one per device and interval.
  expect(peaks).toEqual([...best.values()].sort((x, y) => x.seq - y.seq));
  expect(peaks.length).toBeLessThan(raw.length);
});
