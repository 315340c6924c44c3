import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { schema } from '../../../gateway/sinks/file/schema.js';
import { FileSink } from '../../../gateway/sinks/file/sink.js';
import { finalName } from '../../../gateway/sinks/ranged-names.js';
import { silentLogger } from '../../../gateway/observe/log.js';
import { noMetrics } from '../../../gateway/metrics-spec.js';
import type { ReadingRecord } from '../../../gateway/reading.js';
import { reading } from '../../helpers/readings.js';
import { tempDir } from '../../helpers/tmp.js';
import { sinkConformance, type Delivered } from '../conformance.js';

function fileSink(dir: string, over: Record<string, unknown> = {}): FileSink {
  const config = schema.parse({
    type: 'file',
    path: dir,
    max_file_readings: 137,
    roll_interval_ms: 100,
    ...over,
  });
  return new FileSink('files', config, {
    gatewayId: 'gw1',
    dataDir: dir,
    log: silentLogger,
    metrics: noMetrics,
  });
}

function deliveredIn(dir: string): Delivered[] {
  const out: Delivered[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort()) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as ReadingRecord;
      out.push({ seq: r.seq, id: r.id, device: r.device, value: r.value });
    }
  }
  return out;
}

sinkConformance('file', () => {
  const dir = join(tempDir(), 'out');
  return Promise.resolve({
    exactlyOnce: true,
    create: () => fileSink(dir),
    delivered: () => Promise.resolve(deliveredIn(statSync(dir).isDirectory() ? dir : `${dir}.away`)),
    // A real filesystem failure: the directory is replaced by a plain file (ENOTDIR on every open).
    breakUpstream: () => {
      renameSync(dir, `${dir}.away`);
      writeFileSync(dir, 'not a directory');
      return Promise.resolve();
    },
    healUpstream: () => {
      rmSync(dir);
      renameSync(`${dir}.away`, dir);
      return Promise.resolve();
    },
  });
});

test('final file names hold the gateway id and the sequence range, zero-padded to sort', () => {
  expect(finalName('readings', 'gw1', 1, 137, 'jsonl')).toBe(
    'readings-gw1-0000000000000001-0000000000000137.jsonl',
  );
});

test('a leftover temp file from a crash is removed and its readings rewritten; a final file is never duplicated', async () => {
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  // As left by a crash: a final file 1..3 (renamed, not yet acked) and a temp file from 4 on.
  writeFileSync(join(dir, finalName('readings', 'gw1', 1, 3, 'jsonl')), '');
  writeFileSync(join(dir, '.readings-gw1-0000000000000004.jsonl.tmp'), '{"partial":');
  const sink = fileSink(dir);
  await sink.connect();
  expect(readdirSync(dir).some((n) => n.endsWith('.tmp'))).toBe(false);
  const batch = [1, 2, 3, 4, 5].map((seq) => ({ ...reading(seq), seq }));
  const progress = await sink.write(batch);
  expect(progress.committedThrough).toBe(3); // 1..3 already final: skipped, acked
  const rolled = await sink.flush('shutdown');
  expect(readdirSync(dir).sort()).toEqual([
    finalName('readings', 'gw1', 1, 3, 'jsonl'),
    finalName('readings', 'gw1', 4, 5, 'jsonl'),
  ]);
  // Only the new file's bytes: the skipped readings were counted when their file was made.
  const size = statSync(join(dir, finalName('readings', 'gw1', 4, 5, 'jsonl'))).size;
  expect(rolled).toEqual({ committedThrough: 5, bytes: size });
  await sink.close();
});

test('rolls by size and by time, and the records carry the stable id', async () => {
  const dir = tempDir();
  const sink = fileSink(dir, { max_file_bytes: 600, max_file_readings: 1_000_000, roll_interval_ms: 50 });
  await sink.connect();
  const p = await sink.write([1, 2, 3, 4, 5, 6].map((seq) => ({ ...reading(seq), seq })));
  expect(p.committedThrough).toBeGreaterThanOrEqual(3); // size roll happened mid-batch
  expect(await sink.flush('idle')).toEqual({}); // too young to roll by time
  await new Promise((r) => setTimeout(r, 60));
  const last = await sink.flush('idle');
  expect(last).toMatchObject({ committedThrough: 6 });
  // The bytes reported by the write's rolls and the flush are the bytes in the files, each counted once.
  const files = readdirSync(dir).filter((n) => n.endsWith('.jsonl'));
  const stored = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  expect((p.bytes ?? 0) + (last.bytes ?? 0)).toBe(stored);
  const recs = deliveredIn(dir);
  expect(recs.map((r) => r.id)).toEqual(['gw1:1', 'gw1:2', 'gw1:3', 'gw1:4', 'gw1:5', 'gw1:6']);
  await sink.close();
});
