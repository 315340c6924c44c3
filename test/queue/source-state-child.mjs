// Child process for the source-state crash test: appends batch after batch, each with the batch's number as
// a source state (`batch` key), from 4 concurrent producers, until the parent SIGKILLs it.
// Usage: source-state-child.mjs <dir> <round> <inline|background>
import { Queue } from '../../dist/gateway/queue/queue.js';

const [dir, round, commitMode] = process.argv.slice(2);
const q = Queue.open({ dir, maxBytes: 1024 ** 3, onFull: 'drop_oldest', commitMode });
async function producer(p) {
  const key = `p${p}`;
  let batch = q.sourceState(key)?.batch ?? 0;
  for (;;) {
    batch++;
    const readings = [];
    // 1..20 readings a batch, some batches none at all (a state-only append).
    const n = (batch * 7 + p) % 21;
    for (let i = 0; i < n; i++) {
      readings.push({ device: key, metric: `b${batch}`, value: i, ts: Date.now(), source: `r${round}` });
    }
    await q.append(readings, { sourceState: { key, value: { batch, n } } });
  }
}
process.stdout.write('ready\n');
for (let p = 0; p < 4; p++) void producer(p);
