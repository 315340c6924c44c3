// The sql source against a real MariaDB (Debian's mariadbd, mariadb-install-db in a temp dir) through mysql2:
// the MySQL dialect of the lastmodified query, MySQL types (DATETIME(6), DECIMAL, TINYINT(1), JSON) and a
// wrong password.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { until } from '../../helpers/wait.mjs';
import { MariaDb } from '../../peers/sql.js';
import { SqlHarness, serverConfig } from './harness.js';

let db: MariaDb;
beforeAll(async () => {
  db = await MariaDb.start();
}, 120_000);
afterAll(async () => {
  await db?.stop();
});

test('lastmodified over DATETIME(6) with ties, MySQL types mapped, resumed after a restart', async () => {
  await db.sql(`CREATE TABLE m (id INT PRIMARY KEY, dev VARCHAR(20), changed DATETIME(6) NOT NULL, temp DOUBLE,
    energy DECIMAL(12,3), ok BOOLEAN, meta JSON, note TEXT)`);
  const rows: unknown[][] = [];
  for (let i = 1; i <= 9; i++) {
    rows.push([
      i,
      `d${i % 3}`,
      i <= 5 ? '2026-05-01 10:00:00.000001' : '2026-05-01 10:00:01.5',
      i / 2,
      i * 1.25,
      i % 2,
      JSON.stringify({ i }),
      i === 4 ? null : `n${i}`,
    ]);
  }
  await db.sql('INSERT INTO m VALUES ?', [rows]);
  const h = new SqlHarness();
  const config = serverConfig('mysql', db.port, {
    table: { name: 'm' },
    batch_size: 2,
    device: '{dev}',
    incremental: { mode: 'lastmodified', check_column: 'changed', key_column: 'id' },
    timestamp: { column: 'changed', time_zone: '+02:00' },
    tag_columns: ['id'],
    layout: { type: 'wide', metrics: ['temp', 'energy', 'ok', 'meta', 'note'] },
  });
  await h.start(config);
  await until(() => h.source!.health().sql.last?.key === 9, {
    what: 'all rows',
    state: () => h.source!.health(),
  });
  const rs = h.readings();
  expect(rs.length).toBe(9 * 5 - 1); // note of row 4 is NULL
  expect(rs.slice(0, 5).map((r) => [r.device, r.metric, r.value])).toEqual([
    ['d1', 'temp', 0.5],
    ['d1', 'energy', 1.25],
    ['d1', 'ok', true],
    ['d1', 'meta', { i: 1 }],
    ['d1', 'note', 'n1'],
  ]);
  expect(rs[0]!.ts).toBe(Date.UTC(2026, 4, 1, 8, 0, 0, 0));
  // Each row once: no (id, metric) twice, though five rows share one timestamp and batches hold two.
  expect(new Set(rs.map((r) => `${r.tags?.id}/${r.metric}`)).size).toBe(rs.length);
  expect(new Set(rs.map((r) => r.tags?.id)).size).toBe(9);
  await h.start(config);
  await db.sql(`UPDATE m SET temp = 99, changed = '2026-05-01 11:00:00' WHERE id = 2`);
  await until(() => h.readings().length === rs.length + 5, { what: 'the updated row' });
  expect(h.readings().at(-5)).toMatchObject({ device: 'd2', metric: 'temp', value: 99 });
  await h.close();
});

test('a wrong password is SLUICE_AUTH in health, retried', async () => {
  const h = new SqlHarness();
  await h.start(serverConfig('mysql', db.port, { table: { name: 'm' }, password: 'nope' }));
  await until(() => h.source!.health().sql.failures >= 2, { what: 'retries' });
  expect(h.source!.health()).toMatchObject({ state: 'unhealthy', lastError: { code: 'SLUICE_AUTH' } });
  expect(h.source!.health().detail).toMatch(/Access denied/);
  await h.close();
});
