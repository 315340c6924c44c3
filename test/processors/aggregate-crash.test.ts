// The same windows for any sink batch size (1, 20, 500) over the same queue; then SIGKILL while the
// gateway aggregates, over and over: after dedup by id, the file sink holds exactly the
// windows (same ids, same values) of a crash-free run over a copy of the same queue, and every copy of an
// id is the same window. Runs the compiled gateway (dist/) in a child, with the real queue and file sink.
// Each run writes to a directory of its own, so the file sink's delivered-range skip hides nothing: what
// is sent again after a kill lands (as in Kafka), and only dedup by id may make it exactly once.
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { Queue } from '../../gateway/queue/queue.js';
import type { Reading, ReadingRecord } from '../../gateway/reading.js';
import { runGatewayChild, type ChildLife } from '../helpers/gateway-child.js';
import { tempDir } from '../helpers/tmp.js';

const child = fileURLToPath(new URL('./aggregate-gateway-child.mjs', import.meta.url));
const CHUNKS = 120;
const PER_CHUNK = 20;
const TOTAL = CHUNKS * PER_CHUNK;

/**
 * The input: appended live over ~3 s (lateness is judged by when the queue accepted a reading), 5 devices x
 * 2 metrics, each reading's ts 0..280 ms behind its arrival (so some arrive after window end + 100 ms
 * lateness and are late), and now and then a value that is not a number.
 */
async function writeLiveQueue(dataDir: string): Promise<void> {
  const queue = Queue.open({ dir: join(dataDir, 'queue'), maxBytes: 1 << 30, onFull: 'reject_new' });
  for (let c = 0; c < CHUNKS; c++) {
    const now = Date.now();
    const chunk: Reading[] = Array.from({ length: PER_CHUNK }, (_, i) => ({
      device: `dev-${i % 5}`,
      metric: i % 2 === 0 ? 'temperature' : 'humidity',
      value: Math.random() < 0.02 ? 'n/a' : Math.round(Math.random() * 10_000) / 100,
      unit: i % 2 === 0 ? 'C' : '%',
      ts: now - Math.floor(Math.random() * 280),
      source: 'test',
    }));
    await queue.append(chunk);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await queue.close();
}

/** Runs the child until drained, or until killed `killAfterMs` after its first ack line; how long it ran. */
async function runChild(
  dataDir: string,
  outDir: string,
  killAfterMs: number | undefined,
  maxCount = 20,
): Promise<ChildLife & { ms: number }> {
  let armed = false;
  let since = Date.now();
  const life = await runGatewayChild(child, [dataDir, outDir, String(maxCount)], {
    onAck: (_acked, _lag, ctl) => {
      if (armed) return;
      armed = true;
      since = Date.now();
      if (killAfterMs === undefined) return;
      const timer = setTimeout(() => ctl.kill(), killAfterMs);
      ctl.onExit(() => clearTimeout(timer));
    },
  });
  return { ...life, ms: Date.now() - since };
}

/** Every window record in the sink's final files (temp files were never acknowledged), in all run dirs. */
function windowsIn(outDir: string): ReadingRecord[] {
  if (!existsSync(outDir)) return [];
  return readdirSync(outDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => !basename(f).startsWith('.') && f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(outDir, f), 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as ReadingRecord),
    );
}

/** One record per id; a second copy must be the same window in every field. */
function dedup(records: readonly ReadingRecord[]): { byId: Map<string, ReadingRecord>; problems: string[] } {
  const byId = new Map<string, ReadingRecord>();
  const problems: string[] = [];
  for (const r of records) {
    const seen = byId.get(r.id);
    if (!seen) byId.set(r.id, r);
    else if (JSON.stringify(seen) !== JSON.stringify(r))
      problems.push(`${r.id}: ${JSON.stringify(seen.value)} then ${JSON.stringify(r.value)}`);
  }
  return { byId, problems };
}

test('the same windows for sink batches of 1, 20 and 500; SIGKILL at random moments while aggregating: after dedup by id, exactly the windows of a crash-free run', async () => {
  const dataDir = tempDir();
  await writeLiveQueue(dataDir);
  const refDir = tempDir();
  cpSync(dataDir, refDir, { recursive: true });

  const batchDirs = [1, 500].map((n) => {
    const d = tempDir();
    cpSync(dataDir, d, { recursive: true });
    return { n, d };
  });
  const refOut = join(refDir, 'out');
  const ref = await runChild(refDir, refOut, undefined);
  const { byId: expected, problems: refProblems } = dedup(windowsIn(refOut));
  expect(refProblems).toEqual([]);
  expect(ref.acked).toBeGreaterThan(0);
  // Other sink batch sizes over the same queue give the same windows.
  // The shortest crash-free drain: the machine may be quieter now than for the first (shared CI machines).
  let drainMs = ref.ms;
  for (const { n, d } of batchDirs) {
    const life = await runChild(d, join(d, 'out'), undefined, n);
    drainMs = Math.min(drainMs, life.ms);
    expect(dedup(windowsIn(join(d, 'out'))).byId, `batches of ${n}`).toEqual(expected);
  }

  const first = ref.acked - TOTAL;
  const out = join(dataDir, 'out');
  const rounds: (ChildLife & { ms: number })[] = [];
  for (let i = 0; i < 20; i++) {
    // Lives of up to a third of the crash-free drain, so that kills land all along it on any machine.
    const round = await runChild(dataDir, join(out, `run-${i}`), Math.floor((Math.random() * drainMs) / 3));
    rounds.push(round);
    if (round.acked === ref.acked) break;
  }
  if (rounds[rounds.length - 1]?.acked !== ref.acked)
    rounds.push(await runChild(dataDir, join(out, 'run-last'), undefined));
  const midway = rounds.filter((r, i) => i < rounds.length - 1 && r.acked < ref.acked).length;

  const records = windowsIn(out);
  const { byId, problems } = dedup(records);
  const counted = [...expected.values()].reduce((s, r) => s + (r.value as { count: number }).count, 0);
  console.info(
    `aggregate crash test: crash-free drain ${ref.ms} ms (shortest ${drainMs}); ${rounds.length} runs, ${midway} killed before the end, ${expected.size} windows ` +
      `(${counted} of ${TOTAL} readings in them), ${records.length - byId.size} duplicates; ` +
      `acked per run (offset from the first seq): ${rounds.map((r) => Math.max(0, r.acked - first)).join(' ')}`,
  );
  expect(midway).toBeGreaterThan(2);
  expect(expected.size).toBeGreaterThan(100);
  // The windows hold most readings, not all: some arrived late, some were not numbers.
  expect(counted).toBeGreaterThan(TOTAL / 2);
  expect(counted).toBeLessThan(TOTAL);
  expect(problems).toEqual([]);
  expect([...byId.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [id, r] of expected) expect(byId.get(id), id).toEqual(r);
}, 240_000);
