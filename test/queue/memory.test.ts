// The backlog lives on disk: reading a large backlog through a cursor does not grow the heap with it.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, test } from 'vitest';
import { Queue } from '../../gateway/queue/queue.js';
import { readings } from '../helpers/readings.js';
import { tempDir } from '../helpers/tmp.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heap = (): number => {
  gc();
  return process.memoryUsage().heapUsed;
};

test('streaming a 400k-reading backlog keeps the heap flat (within 16 MiB)', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: 1024 ** 3, onFull: 'drop_oldest', noSync: true });
  await q.openCursor('slow', 'oldest');
  const chunk = readings(10_000);
  for (let i = 0; i < 40; i++) await q.append(chunk);
  expect(q.stats().depth).toBe(400_000);

  let after = 0;
  let seen = 0;
  let baseline = 0;
  for (;;) {
    const batch = q.readSized(after, 2_000).readings;
    if (batch.length === 0) break;
    seen += batch.length;
    after = batch[batch.length - 1]!.seq;
    if (seen === 20_000) baseline = heap();
  }
  const end = heap();
  expect(seen).toBe(400_000);
  expect(end - baseline).toBeLessThan(16 * 1024 * 1024);
  await q.close();
}, 120_000);
