// The sql source against a real PostgreSQL (Debian's, initdb in a temp dir): incremental append and
// lastmodified imports, SQL types to readings, restarts that resume after the last committed row, and the
// failures an operator meets (refused connection, wrong password, a bad query, a table that went backwards).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { makeCa, makeTestCerts } from '../../helpers/certs.js';
import { tempDir } from '../../helpers/tmp.js';
import { until } from '../../helpers/wait.mjs';
import { freePort } from '../../helpers/net.mjs';
import { Postgres } from '../../peers/sql.js';
import { SqlHarness, serverConfig } from './harness.js';

let db: Postgres;
beforeAll(async () => {
  db = await Postgres.start();
}, 60_000);
afterAll(async () => {
  await db?.stop();
});

test('append mode, wide rows: every SQL type mapped, NULLs skipped and counted, a restart imports only new rows', async () => {
  await db.sql(`CREATE TABLE wide (id bigserial PRIMARY KEY, line text, ts timestamptz NOT NULL, temp double precision,
    energy numeric(12,3), big bigint, running boolean, state text, extra jsonb, raw bytea)`);
  await db.sql(`INSERT INTO wide (line, ts, temp, energy, big, running, state, extra, raw)
    SELECT 'L' || (g % 2), timestamptz '2026-01-01 00:00:00.123456+00' + g * interval '1 second', g * 1.5,
      g * 10.125, 9007199254740993 + g, g % 2 = 0, 'st' || g, jsonb_build_object('g', g), NULL
    FROM generate_series(1, 25) g`);
  await db.sql(`UPDATE wide SET temp = NULL WHERE id = 3`);
  const h = new SqlHarness();
  const config = serverConfig('postgres', db.port, {
    table: { name: 'wide' },
    batch_size: 10,
    device: 'plc-{line}',
    timestamp: { column: 'ts' },
    tag_columns: ['state'],
    layout: {
      type: 'wide',
      metrics: ['temp', { column: 'energy', unit: 'kWh' }, 'big', 'running', 'extra', 'raw'],
    },
  });
  await h.start(config);
  await until(() => h.source!.health().sql.last?.value === 25, {
    what: 'all 25 rows imported',
    state: () => h.source!.health(),
  });
  const rs = h.readings();
  // 25 rows x 5 metrics, minus one NULL temp; raw (bytea) is NULL throughout: NULLs, not rejections.
  expect(rs.length).toBe(25 * 5 - 1);
  expect(h.source!.health().sql.nulls).toBe(25 + 1);
  const row1 = rs.filter((r) => r.tags?.state === 'st1');
  expect(row1.map((r) => [r.device, r.metric, r.value, r.unit])).toEqual([
    ['plc-L1', 'temp', 1.5, undefined],
    ['plc-L1', 'energy', 10.125, 'kWh'],
    ['plc-L1', 'big', '9007199254740994', undefined], // beyond 2^53: kept exact, as text
    ['plc-L1', 'running', false, undefined],
    ['plc-L1', 'extra', { g: 1 }, undefined],
  ]);
  expect(row1[0]!.ts).toBe(Date.UTC(2026, 0, 1, 0, 0, 1, 123));
  await h.start(config); // restart: resumes after id 25
  await db.sql(`INSERT INTO wide (line, ts, temp) VALUES ('L9', now(), 99)`);
  await until(() => h.source!.health().sql.last?.value === 26, { what: 'the new row imported' });
  const after = h.readings();
  expect(after.length).toBe(rs.length + 1);
  expect(after.at(-1)).toMatchObject({ device: 'plc-L9', metric: 'temp', value: 99 });
  await h.close();
});

test('lastmodified mode: rows sharing a timestamp across batch boundaries come once each; an updated row comes again', async () => {
  await db.sql(`CREATE TABLE lm (id int PRIMARY KEY, changed timestamp(6) NOT NULL, v real)`);
  // 7 rows on one timestamp (microseconds that a JS Date would cut), 3 on the next: batches of 2 split ties.
  await db.sql(`INSERT INTO lm SELECT g, CASE WHEN g <= 7 THEN timestamp '2026-03-29 01:30:00.000001' ELSE timestamp '2026-03-29 03:30:00.000002' END, g
    FROM generate_series(1, 10) g`);
  const h = new SqlHarness();
  const config = serverConfig('postgres', db.port, {
    table: { name: 'lm', columns: ['v'] },
    batch_size: 2,
    device: 'lm',
    incremental: { mode: 'lastmodified', check_column: 'changed', key_column: 'id' },
    timestamp: { column: 'changed', time_zone: 'Europe/Berlin' },
  });
  await h.start(config);
  await until(() => h.readings().length === 10, { what: '10 rows', state: () => h.source!.health() });
  expect(h.readings().map((r) => r.value)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // Berlin: 01:30 is CET (+01:00), 03:30 on the day DST starts is CEST (+02:00).
  expect(h.readings()[0]!.ts).toBe(Date.UTC(2026, 2, 29, 0, 30));
  expect(h.readings()[9]!.ts).toBe(Date.UTC(2026, 2, 29, 1, 30));
  expect(h.source!.health().sql.last).toEqual({ value: '2026-03-29 03:30:00.000002', key: 10 });
  await h.start(config);
  await db.sql(`UPDATE lm SET v = 40, changed = timestamp '2026-03-29 04:00:00' WHERE id = 4`);
  await until(() => h.readings().length === 11, { what: 'the updated row' });
  await new Promise((r) => setTimeout(r, 300));
  expect(h.readings().map((r) => r.value)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 40]);
  await h.close();
});

test('a query with placeholders, long rows, and a row that cannot be mapped is counted with its reason', async () => {
  await db.sql(
    `CREATE TABLE long_rows (seq int PRIMARY KEY, dev text, metric text, val double precision, unit text)`,
  );
  await db.sql(`INSERT INTO long_rows VALUES (1, 'a', 'temp', 20.5, 'C'), (2, NULL, 'temp', 1, 'C'), (3, 'b', '', 2, NULL),
    (4, 'b', 'hum', 40, '%'), (5, 'c', 'temp', NULL, 'C')`);
  const h = new SqlHarness();
  await h.start(
    serverConfig('postgres', db.port, {
      query:
        'SELECT seq, dev, metric, val, unit FROM long_rows WHERE seq > {last} ORDER BY seq LIMIT {limit}',
      incremental: { mode: 'append', check_column: 'seq', start_value: '0' },
      device: '{dev}',
      layout: { type: 'long', metric_column: 'metric', value_column: 'val', unit_column: 'unit' },
    }),
  );
  await until(() => h.source!.health().sql.last?.value === 5, { what: 'all rows read' });
  expect(h.readings().map((r) => [r.device, r.metric, r.value, r.unit])).toEqual([
    ['a', 'temp', 20.5, 'C'],
    ['b', 'hum', 40, '%'],
  ]);
  expect(h.rejections.map((r) => r.reason).sort()).toEqual(['sql_device_null', 'sql_metric_invalid']);
  expect(h.source!.health().sql.nulls).toBe(1);
  await h.close();
});

test('connection refused and a wrong password: unhealthy with a clear code, retried with backoff', async () => {
  const h = new SqlHarness();
  await h.start(serverConfig('postgres', await freePort(), { table: { name: 'wide' } }));
  await until(() => h.source!.health().sql.failures >= 2, { what: 'retries' });
  expect(h.source!.health()).toMatchObject({
    state: 'unhealthy',
    lastError: { code: 'SLUICE_UPSTREAM_UNREACHABLE' },
  });
  expect(h.source!.health().detail).toMatch(/ECONNREFUSED|connect/);
  await h.start(serverConfig('postgres', db.port, { table: { name: 'wide' }, password: 'wrong' }));
  await until(() => h.source!.health().lastError?.code === 'SLUICE_AUTH', {
    what: 'auth failure',
    state: () => h.source!.health(),
  });
  expect(h.source!.health().detail).toMatch(/password authentication failed/);
  await until(() => h.source!.health().sql.failures >= 2, { what: 'auth retried' });
  expect(h.readings()).toEqual([]);
  await h.close();
});

test('a query error shows its SQLSTATE and is retried at the poll interval, not in a tight loop', async () => {
  const h = new SqlHarness();
  await h.start(
    serverConfig('postgres', db.port, {
      table: { name: 'no_such_table' },
      poll_interval_ms: 400,
      retry: { initial_ms: 1, max_ms: 5 },
    }),
  );
  await until(() => h.source!.health().lastError?.code === 'SLUICE_SQL_QUERY', { what: 'query error' });
  expect(h.source!.health()).toMatchObject({ state: 'degraded' });
  expect(h.source!.health().detail).toMatch(/SQLSTATE 42P01.*no_such_table/);
  await new Promise((r) => setTimeout(r, 1300));
  expect(h.source!.health().sql.failures).toBeLessThanOrEqual(5);
  expect(h.source!.health().sql.connects).toBe(1); // a bad query is no reason to reconnect
  await h.close();
});

test('a check column that goes backwards is reported, and rows below the last value are not imported again', async () => {
  await db.sql(`CREATE TABLE back (id int PRIMARY KEY, v int)`);
  await db.sql(`INSERT INTO back SELECT g, g FROM generate_series(1, 10) g`);
  const h = new SqlHarness();
  const config = serverConfig('postgres', db.port, { table: { name: 'back' }, device: 'b' });
  await h.start(config);
  await until(() => h.readings().length === 10, { what: '10 rows' });
  // Restored from an older backup: ids 1..4 again, below the last imported 10.
  // One statement string is one transaction: the source never sees the table empty in between.
  await db.sql(`TRUNCATE back; INSERT INTO back SELECT g, g * 100 FROM generate_series(1, 4) g`);
  await until(() => h.source!.health().lastError?.code === 'SLUICE_SQL_CHECK_BACKWARDS', {
    what: 'backwards reported',
    state: () => h.source!.health(),
  });
  expect(h.source!.health().detail).toMatch(/highest id in back is 4, below the last imported 10/);
  await h.start(config); // a restart does not re-import either
  await new Promise((r) => setTimeout(r, 300));
  expect(h.readings().length).toBe(10);
  // New rows past the last value flow again, and health recovers.
  await db.sql(`INSERT INTO back VALUES (11, 11)`);
  await until(() => h.readings().length === 11, { what: 'row 11' });
  await until(() => h.source!.health().state === 'healthy', { what: 'healthy again' });
  await h.close();
});

test('TLS: a server certificate from the configured CA is accepted, one from another CA is refused (SLUICE_AUTH)', async () => {
  const dir = tempDir();
  const certs = await makeTestCerts(dir);
  mkdirSync(join(dir, 'other'));
  const other = await makeCa(join(dir, 'other'), 'other', { cn: 'another-ca' });
  const tls = await Postgres.start({ tls: { cert: certs.serverCert, key: certs.serverKey } });
  try {
    await tls.sql(`CREATE TABLE t (id int PRIMARY KEY, v int)`);
    await tls.sql(`INSERT INTO t VALUES (1, 7)`);
    const h = new SqlHarness();
    await h.start(
      serverConfig('postgres', tls.port, { table: { name: 't' }, device: 'x', tls: { ca_file: certs.ca } }),
    );
    await until(() => h.readings().length === 1, {
      what: 'the row over TLS',
      state: () => h.source!.health(),
    });
    const ssl = await tls.sql(
      `SELECT count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.application_name = 'sluice'`,
    );
    expect(ssl.rows[0]).toEqual({ n: 1 });
    await h.start(serverConfig('postgres', tls.port, { table: { name: 't' }, tls: { ca_file: other.cert } }));
    await until(() => h.source!.health().sql.failures >= 1, {
      what: 'the refusal',
      state: () => h.source!.health(),
    });
    expect(h.source!.health()).toMatchObject({ state: 'unhealthy', lastError: { code: 'SLUICE_AUTH' } });
    expect(h.source!.health().detail).toMatch(/TLS certificate was refused/);
    await h.close();
  } finally {
    await tls.stop();
  }
});

test('a query over query_timeout_ms fails with its SQLSTATE; close() does not wait for a running query', async () => {
  await db.sql(`CREATE VIEW slow AS SELECT g AS id, pg_sleep(0.5)::text AS z FROM generate_series(1, 3) g`);
  const h = new SqlHarness();
  await h.start(
    serverConfig('postgres', db.port, {
      table: { name: 'slow' },
      query_timeout_ms: 100,
      layout: { type: 'wide', metrics: ['id'] },
    }),
  );
  await until(() => h.source!.health().lastError?.code === 'SLUICE_SQL_QUERY', {
    what: 'the timeout',
    state: () => h.source!.health(),
  });
  expect(h.source!.health().detail).toMatch(/SQLSTATE 57014/);
  await h.start(
    serverConfig('postgres', db.port, { table: { name: 'slow' }, layout: { type: 'wide', metrics: ['id'] } }),
  );
  await new Promise((r) => setTimeout(r, 200)); // the 1.5 s query is running
  const t0 = Date.now();
  await h.stop();
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(h.readings()).toEqual([]);
  await h.close();
});

test('a query that returns the last imported row again (>= instead of >): reported and skipped, never imported twice', async () => {
  await db.sql(`CREATE TABLE again (seq int PRIMARY KEY, v int)`);
  await db.sql(`INSERT INTO again SELECT g, g FROM generate_series(1, 5) g`);
  const h = new SqlHarness();
  await h.start(
    serverConfig('postgres', db.port, {
      query: 'SELECT seq, v FROM again WHERE seq >= {last} ORDER BY seq LIMIT {limit}',
      incremental: { mode: 'append', check_column: 'seq', start_value: '1' },
      device: 'a',
    }),
  );
  await until(() => h.source!.health().sql.backwards >= 2, {
    what: 'the repeated row seen twice',
    state: () => h.source!.health(),
  });
  expect(h.source!.health().lastError?.code).toBe('SLUICE_SQL_CHECK_BACKWARDS');
  // start_value 1 is the position: row 1 itself is at it, so 2..5 are imported, each once.
  expect(h.readings().map((r) => r.value)).toEqual([2, 3, 4, 5]);
  await h.close();
});
