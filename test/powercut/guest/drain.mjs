// The power-cut test's last boot: the gateway (the built one, with fsync) started on the rounds' queue with
// one file sink reading from the oldest entry; once its cursor has caught up with the last sequence the
// gateway stops gracefully (the sink rolls its file: renamed and fsynced) and the queue's figures are
// printed as `@drained {json}`. The host then reads the files from the disk image.
import { loadConfigFile } from '../../../dist/gateway/config/load.js';
import { Gateway } from '../../../dist/gateway/runtime/gateway.js';

const file = process.argv[2];
const config = loadConfigFile(file);
const gw = await Gateway.start(config);
const before = gw.queue.stats();
process.stdout.write(
  `@queue ${JSON.stringify({ depth: before.depth, firstSeq: before.firstSeq, lastSeq: before.lastSeq })}\n`,
);
const started = Date.now();
let s;
for (;;) {
  s = gw.queue.stats();
  const cursor = s.cursors.find((c) => c.name === 'out');
  if (cursor !== undefined && cursor.lag === 0) break;
  if (Date.now() - started > 30 * 60_000)
    throw new Error(`drain not done after 30 min: ${JSON.stringify(s)}`);
  await new Promise((resolve) => setTimeout(resolve, 500));
}
await gw.stop();
process.stdout.write(
  `@drained ${JSON.stringify({ readings: before.depth, lastSeq: s.lastSeq, dropped: s.dropped, deadLetters: s.deadLetters, ms: Date.now() - started })}\n`,
);
