// The sql source reading a SQLite file (a local logger's database, better-sqlite3, read-only) while another
// connection keeps writing it; epoch timestamps; a file that is not there yet.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { until } from '../../helpers/wait.mjs';
import { tempDir } from '../../helpers/tmp.js';
import { SqlHarness, type SqlInput } from './harness.js';

function config(path: string, rest: Partial<SqlInput> = {}): SqlInput {
  return {
    type: 'sql',
    driver: 'sqlite',
    path,
    table: { name: 'log' },
    incremental: { mode: 'append', check_column: 'rowid_' },
    poll_interval_ms: 50,
    retry: { initial_ms: 20, max_ms: 100 },
    device: 'logger-{station}',
    timestamp: { column: 'at', epoch_unit: 's' },
    ...rest,
  };
}

test('rows written while the source reads arrive once each, in order, across a restart', async () => {
  const path = join(tempDir(), 'logger.db');
  const w = new Database(path);
  w.pragma('journal_mode = WAL');
  w.exec('CREATE TABLE log (rowid_ INTEGER PRIMARY KEY, station TEXT, at INTEGER, level REAL, pump INTEGER)');
  const insert = w.prepare('INSERT INTO log (station, at, level, pump) VALUES (?, ?, ?, ?)');
  const h = new SqlHarness();
  await h.start(config(path, { batch_size: 7 }));
  for (let i = 1; i <= 60; i++) {
    insert.run(`s${i % 2}`, 1_780_000_000 + i, i / 4, i % 2);
    if (i === 30) await h.start(config(path, { batch_size: 7 })); // restart mid-stream
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 30));
  }
  await until(() => h.source!.health().sql.last?.value === 60, {
    what: '60 rows',
    state: () => h.source!.health(),
  });
  const levels = h.readings().filter((r) => r.metric === 'level');
  expect(levels.map((r) => r.value)).toEqual(Array.from({ length: 60 }, (_, i) => (i + 1) / 4));
  expect(levels[0]).toMatchObject({ device: 'logger-s1', ts: (1_780_000_000 + 1) * 1000 });
  expect(h.readings().filter((r) => r.metric === 'pump').length).toBe(60);
  w.close();
  await h.close();
});

test('a missing file: unhealthy with SLUICE_SOURCE_IO, retried, and imported once it appears', async () => {
  const path = join(tempDir(), 'later.db');
  const h = new SqlHarness();
  await h.start(config(path));
  await until(() => h.source!.health().sql.failures >= 2, { what: 'retries' });
  expect(h.source!.health()).toMatchObject({ state: 'unhealthy', lastError: { code: 'SLUICE_SOURCE_IO' } });
  const w = new Database(path);
  w.exec('CREATE TABLE log (rowid_ INTEGER PRIMARY KEY, station TEXT, at INTEGER, level REAL)');
  w.prepare('INSERT INTO log (station, at, level) VALUES (?, ?, ?)').run('x', 1_780_000_000, 1);
  w.close();
  await until(() => h.readings().length === 1, { what: 'the row', state: () => h.source!.health() });
  await until(() => h.source!.health().state === 'healthy', { what: 'healthy' });
  await h.close();
});
