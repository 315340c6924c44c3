// The quick start, end to end: `sluice run` with the simulator and the file sink, stopped by SIGTERM; the
// files hold every simulated reading exactly once, and `queue stats` on the stopped gateway agrees.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { sluice, sluiceSpawn } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { fileSinkRecords } from '../helpers/readings.js';

test('the demo runs and the file sink receives every simulated reading once', async () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  const config = join(dir, 'demo.yaml');
  const N = 600; // 4 devices x 3 metrics x 50 ticks
  writeFileSync(
    config,
    `gateway:\n  id: demo-test\n  data_dir: ${dir}/data\nsources:\n  sim:\n    type: simulator\n    devices: 4\n    interval_ms: 5\n    count: ${N}\nsinks:\n  local:\n    type: file\n    path: ${out}\n    roll_interval_ms: 100\n    start_from: oldest\n`,
  );
  const child = sluiceSpawn(['run', '-c', config]);
  let logs = '';
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  try {
    await until(() => fileSinkRecords(out).length >= N, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: `${N} readings in the files`,
      state: () => logs,
    });
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = (await once(child, 'exit')) as [number | null];
  expect(code, logs).toBe(0);
  const stats = sluice(['queue', 'stats', '-c', config, '--json']);
  expect(stats.code).toBe(0);
  const { origin } = JSON.parse(stats.stdout) as { origin: number };
  // A new queue numbers from the clock (microseconds), so ids never repeat after a wiped data directory.
  expect(origin).toBeGreaterThan(Date.parse('2020-01-01') * 1000);
  const got = fileSinkRecords(out);
  expect(got.map((r) => r.seq)).toEqual(Array.from({ length: N }, (_, i) => origin + i));
  expect(new Set(got.map((r) => r.id)).size).toBe(N);
  expect(got[0]).toMatchObject({
    gateway: 'demo-test',
    id: `demo-test:${origin}`,
    source: 'sim',
    device: 'sim-1',
    metric: 'temperature',
    unit: 'C',
  });
  expect(logs).toContain('"msg":"gateway started"');
  expect(logs).toContain('"msg":"stopped"');

  expect(JSON.parse(stats.stdout)).toMatchObject({
    depth: 0,
    lastSeq: origin + N - 1,
    cursors: [{ name: 'local', acked: origin + N - 1, lag: 0 }],
  });
});
