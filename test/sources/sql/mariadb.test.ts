// The sql source against a real MariaDB (Debian's mariadbd, mariadb-install-db in a temp dir) through mysql2:
// the MySQL dialect of the lastmodified query, MySQL types (DATETIME(6), DECIMAL, TINYINT(1), JSON), a
// wrong password, and TLS.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { issue, makeCa, makeTestCerts } from '../../helpers/certs.js';
import { tempDir } from '../../helpers/tmp.js';
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

test('TLS: a login only allowed over TLS works with the configured CA; without TLS or with another CA it is refused (SLUICE_AUTH)', async () => {
  const dir = tempDir();
  const certs = await makeTestCerts(dir);
  mkdirSync(join(dir, 'other'));
  const other = await makeCa(join(dir, 'other'), 'other', { cn: 'another-ca' });
  // By host name: mysql2 checks an IP-addressed server against "localhost" (the schema refuses that).
  const server = await issue(certs.issuer, {
    name: 'mariadb',
    cn: 'localhost',
    sans: ['localhost', '127.0.0.1'],
    usage: ['serverAuth'],
  });
  const tls = await MariaDb.start({ tls: { cert: server.cert, key: server.key } });
  try {
    await tls.sql(`CREATE TABLE t (id INT PRIMARY KEY, v INT)`);
    await tls.sql(`INSERT INTO t VALUES (1, 7)`);
    const h = new SqlHarness();
    // The user is REQUIRE SSL: a row arriving proves the session was encrypted.
    await h.start(
      serverConfig('mysql', tls.port, {
        host: 'localhost',
        table: { name: 't' },
        device: 'x',
        tls: { ca_file: certs.ca },
      }),
    );
    await until(() => h.readings().length === 1, {
      what: 'the row over TLS',
      state: () => h.source!.health(),
    });
    for (const [what, over] of [
      ['no TLS', {}],
      ['another CA', { tls: { ca_file: other.cert } }],
    ] as const) {
      await h.start(serverConfig('mysql', tls.port, { host: 'localhost', table: { name: 't' }, ...over }));
      await until(() => h.source!.health().sql.failures >= 1, {
        what: `the refusal (${what})`,
        state: () => h.source!.health(),
      });
      expect(h.source!.health(), what).toMatchObject({
        state: 'unhealthy',
        lastError: { code: 'SLUICE_AUTH' },
      });
    }
    expect(h.source!.health().detail).toMatch(/TLS certificate was refused/);
    expect(h.readings().length).toBe(1);
    await h.close();
  } finally {
    await tls.stop();
  }
});
