// Import from PostgreSQL into the queue: rows/s of the sql source (the real gateway, durable queue, fsync on)
// beside psql's own `\copy (SELECT ...) TO /dev/null` of the same rows (the ceiling: the server reading and
// sending them, a C client receiving them), same server, same run. The ratio says what the driver, the
// mapping to readings and the durable queue commits cost on top of reading the rows.
// The PostgreSQL peer (test/peers/sql.ts) is transpiled (types stripped) into test/.peers/ and started here.
// Run: npm run build && node test/bench/sql-import.mjs [rows=200000] [runs=3] [batch=5000]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { validateConfig } from '../../dist/gateway/config/load.js';
import { Queue } from '../../dist/gateway/queue/queue.js';
import { Gateway } from '../../dist/gateway/runtime/gateway.js';
import { until } from '../helpers/wait.mjs';
import { figure, goal, record } from './results.mjs';

const ROWS = Number(process.argv[2] ?? 200_000);
const RUNS = Number(process.argv[3] ?? 3);
const BATCH = Number(process.argv[4] ?? 5000);
/** Target: the source imports at least this share of the ceiling's rows/s. */
const TARGET = 0.1;
const here = dirname(fileURLToPath(import.meta.url));

/** test/peers/sql.ts as plain ESM in test/.peers/ (its relative imports resolve from there the same). */
async function loadPeer() {
  const out = join(here, '..', '.peers', 'sql-peer.mjs');
  mkdirSync(dirname(out), { recursive: true });
  const src = readFileSync(join(here, '..', 'peers', 'sql.ts'), 'utf8');
  const { outputText } = ts.transpileModule(src, {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  });
  writeFileSync(out, outputText);
  return import(out);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');

const { Postgres, PASSWORD, USER, DATABASE, postgresBin } = await loadPeer();
const db = await Postgres.start();
try {
  await db.sql(`CREATE TABLE bench (id bigint PRIMARY KEY, line int, ts timestamptz NOT NULL,
    temp double precision, hum double precision, pressure double precision)`);
  await db.sql(`INSERT INTO bench SELECT g, g % 50, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 ms',
    20 + (g % 100) / 10.0, 40 + (g % 30), 1000 + (g % 20) FROM generate_series(1, ${ROWS}) g`);
  await db.sql('VACUUM ANALYZE bench');

  const psql = postgresBin('psql');
  const ceiling = [];
  const sluice = [];
  const queueOnly = [];
  for (let run = 0; run < RUNS; run++) {
    // The ceiling: the same rows, in the same order, read by psql and thrown away.
    const t0 = performance.now();
    const r = spawnSync(
      psql,
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(db.port),
        '-U',
        USER,
        '-d',
        DATABASE,
        '-X',
        '-q',
        '-c',
        '\\copy (SELECT * FROM bench ORDER BY id) TO /dev/null',
      ],
      { env: { ...process.env, PGPASSWORD: PASSWORD }, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
    ceiling.push(ROWS / ((performance.now() - t0) / 1000));

    // The source: a fresh gateway and queue, until the last row is committed with its readings.
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-sql-bench-'));
    const config = validateConfig({
      gateway: { id: 'gw-bench', data_dir: dataDir },
      log: { level: 'silent' },
      sources: {
        db: {
          type: 'sql',
          driver: 'postgres',
          host: '127.0.0.1',
          port: db.port,
          database: DATABASE,
          username: USER,
          password: PASSWORD,
          table: { name: 'bench' },
          incremental: { mode: 'append', check_column: 'id' },
          batch_size: BATCH,
          poll_interval_ms: 1000,
          device: 'line-{line}',
          timestamp: { column: 'ts' },
          layout: { type: 'wide', metrics: ['temp', 'hum', 'pressure'] },
        },
      },
    });
    const t1 = performance.now();
    const gw = await Gateway.start(config);
    await until(() => gw.status().sources[0].health.sql?.last?.value === ROWS, {
      timeoutMs: 600_000,
      intervalMs: 5,
    });
    const secs = (performance.now() - t1) / 1000;
    const depth = gw.queue.stats().depth;
    await gw.stop();
    rmSync(dataDir, { recursive: true, force: true });
    if (depth !== ROWS * 3) throw new Error(`queue holds ${depth} readings, expected ${ROWS * 3}`);
    sluice.push(ROWS / secs);

    // A second reference: the durable queue alone taking the same readings in the same appends (readings
    // built up front, with a state per append as the source writes it): what the queue costs of the above.
    const qDir = mkdtempSync(join(tmpdir(), 'sluice-sql-bench-q-'));
    const q = Queue.open({ dir: qDir, maxBytes: 1 << 30, onFull: 'reject_new' });
    const batches = [];
    for (let first = 1; first <= ROWS; first += BATCH) {
      const rs = [];
      for (let id = first; id < Math.min(first + BATCH, ROWS + 1); id++) {
        const ts = Date.UTC(2026, 0, 1) + id;
        const device = `line-${id % 50}`;
        rs.push({ device, metric: 'temp', value: 20 + (id % 100) / 10, ts, source: 'db' });
        rs.push({ device, metric: 'hum', value: 40 + (id % 30), ts, source: 'db' });
        rs.push({ device, metric: 'pressure', value: 1000 + (id % 20), ts, source: 'db' });
      }
      batches.push(rs);
    }
    const t2 = performance.now();
    for (const [i, rs] of batches.entries()) {
      await q.append(rs, { sourceState: { key: 'db/bench', value: { value: (i + 1) * BATCH } } });
    }
    queueOnly.push(ROWS / ((performance.now() - t2) / 1000));
    await q.close();
    rmSync(qDir, { recursive: true, force: true });
    console.log(
      `run ${run + 1}: psql \\copy ${fmt(ceiling.at(-1))} rows/s, sluice sql source ${fmt(sluice.at(-1))} rows/s (${fmt((ROWS * 3) / secs)} readings/s), queue alone ${fmt(queueOnly.at(-1))} rows/s`,
    );
  }
  const ratio = median(sluice) / median(ceiling);
  console.log(
    `rows: ${fmt(ROWS)} (3 metric columns -> 3 readings a row), batch_size ${BATCH}, ${RUNS} runs, queue fsync on`,
  );
  console.log(
    `psql \\copy to /dev/null (ceiling): median ${fmt(median(ceiling))} rows/s, range ${fmt(Math.min(...ceiling))}-${fmt(Math.max(...ceiling))}`,
  );
  console.log(
    `sluice sql source -> queue:     median ${fmt(median(sluice))} rows/s, range ${fmt(Math.min(...sluice))}-${fmt(Math.max(...sluice))}`,
  );
  console.log(
    `queue alone, same appends:     median ${fmt(median(queueOnly))} rows/s, range ${fmt(Math.min(...queueOnly))}-${fmt(Math.max(...queueOnly))} (source / queue alone: ${((median(sluice) / median(queueOnly)) * 100).toFixed(0)}%)`,
  );
  console.log(
    `ratio ${(ratio * 100).toFixed(1)}% of the ceiling (target >= ${TARGET * 100}%): ${ratio >= TARGET ? 'MET' : 'NOT MET'}`,
  );
  record('sql-import', {
    figures: [
      figure('ceiling', 'psql \\copy to /dev/null (ceiling)', ceiling, 'rows/s'),
      figure('sluice', 'sluice sql source -> durable queue', sluice, 'rows/s'),
      figure('queue', 'queue alone, same appends', queueOnly, 'rows/s'),
    ],
    goals: [goal(`sql source >= ${TARGET}x the psql ceiling`, ratio, '>=', TARGET)],
    params: { rows: ROWS, runs: RUNS, batch: BATCH },
  });
} finally {
  await db.stop();
}
