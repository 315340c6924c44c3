// Exactly once into the queue: the real gateway imports 100,000 PostgreSQL rows and is SIGKILLed again and
// again mid-import; each restart resumes after the last committed row. Afterwards every row is in the queue
// exactly once: none missed, none twice.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Queue } from '../../../gateway/queue/queue.js';
import { runGatewayChild } from '../../helpers/gateway-child.js';
import { tempDir } from '../../helpers/tmp.js';
import { PASSWORD, Postgres } from '../../peers/sql.js';

const child = fileURLToPath(new URL('./sql-gateway-child.mjs', import.meta.url));
const TOTAL = 100_000;
const BATCH = 500;

let db: Postgres;
beforeAll(async () => {
  db = await Postgres.start();
  // lastmodified with many ties: 10 rows per timestamp, so batches end inside a run of equal timestamps.
  await db.sql(
    `CREATE TABLE big (id int PRIMARY KEY, line int, changed timestamp(6) NOT NULL, v double precision)`,
  );
  await db.sql(`CREATE INDEX big_changed ON big (changed, id)`);
  await db.sql(`INSERT INTO big SELECT g, g % 7, timestamp '2026-01-01' + (g / 10) * interval '1 millisecond', g
    FROM generate_series(1, ${TOTAL}) g`);
}, 120_000);
afterAll(async () => {
  await db?.stop();
});

test(`SIGKILL rounds during an import of ${TOTAL} rows: every row in the queue exactly once`, async () => {
  const dataDir = tempDir();
  const pwFile = join(dataDir, 'pg.pw');
  writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  const positions: number[] = [];
  let rounds = 0;
  for (;;) {
    rounds++;
    // Killed at a random moment after it is up (mostly mid-batch: query, mapping, commit; sometimes before
    // its first commit), and at the latest once it has imported a random 20-60% of what is left, so that
    // the import is cut several times however fast this machine is. The last 1,000 rows run to the end:
    // the harness kills the child itself once nothing is left (lag 0).
    const from = positions.at(-1) ?? 0;
    const left = TOTAL - from;
    const target = left <= 1_000 ? TOTAL : from + Math.ceil(left * (0.2 + Math.random() * 0.4));
    const life = await runGatewayChild(
      child,
      [dataDir, String(db.port), pwFile, String(TOTAL), String(BATCH)],
      {
        onReady: (ctl) => {
          const t = setTimeout(() => ctl.kill(), 150 + Math.floor(Math.random() * 600));
          ctl.onExit(() => clearTimeout(t));
        },
        onAck: (acked, _lag, ctl) => {
          if (acked >= target && acked < TOTAL) ctl.kill();
        },
      },
    );
    positions.push(life.acked);
    if (life.acked === TOTAL) break;
    expect(rounds, `progress per round: ${positions.join(' ')}`).toBeLessThan(200);
  }
  expect(rounds).toBeGreaterThanOrEqual(3); // the import was really cut several times
  const q = Queue.open({
    dir: join(dataDir, 'queue'),
    maxBytes: 1 << 30,
    onFull: 'reject_new',
    readOnly: true,
  });
  const seen = new Uint8Array(TOTAL + 1);
  let twice = 0;
  let count = 0;
  for (let after = 0; ;) {
    const batch = q.readSized(after, 20_000).readings;
    if (batch.length === 0) break;
    for (const r of batch) {
      const id = Number(r.tags?.id);
      expect(r.value).toBe(id);
      if (seen[id]! > 0) twice++;
      seen[id] = Math.min(255, seen[id]! + 1);
      count++;
    }
    after = batch[batch.length - 1]!.seq;
  }
  await q.close();
  const missed = [];
  for (let id = 1; id <= TOTAL; id++) if (seen[id] === 0) missed.push(id);
  expect({ twice, missed: missed.slice(0, 10), missedCount: missed.length, count }).toEqual({
    twice: 0,
    missed: [],
    missedCount: 0,
    count: TOTAL,
  });
  console.log(`sql exactly-once: ${rounds} rounds, positions at each kill: ${positions.join(' ')}`);
}, 600_000);
