// `npm run chaos -- --rounds 20`: the kill -9 rounds of chaos.mjs on a 3-node Kafka cluster of their own
// (test/peers/kafka), or on a running one (--kafka-info FILE: a KafkaClusterInfo as JSON). Prints each round
// and the read-back; exits 1 when a PUBACKed reading is missing or a duplicate is not of a delivered one.
// Run: npm run build && node test/chaos/run.mjs [--rounds 20] [--clients 8] [--window 16] [--seed N]
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { parseArgs } from 'node:util';
import { runChaos } from './chaos.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: process.env.ROUNDS ?? '20' },
    clients: { type: 'string', default: '8' },
    window: { type: 'string', default: '16' },
    seed: { type: 'string' },
    'kafka-info': { type: 'string' },
  },
});

register('../bench/kafka-ts-hooks.mjs', import.meta.url);
const { startKafkaCluster } = await import('../peers/kafka/cluster.ts');
const { createTopic } = await import('../peers/kafka/admin.ts');

const cluster = opts['kafka-info']
  ? { ...JSON.parse(readFileSync(opts['kafka-info'], 'utf8')), close: async () => undefined }
  : await startKafkaCluster({ nodes: 3 });
let failed = true;
try {
  const topic = `chaos-${process.pid}-${Date.now()}`;
  await createTopic(cluster, topic, { partitions: 3 });
  const r = await runChaos({
    bootstrap: cluster.bootstrap,
    topic,
    rounds: Number(opts.rounds),
    clients: Number(opts.clients),
    window: Number(opts.window),
    ...(opts.seed !== undefined && { seed: Number(opts.seed) }),
    log: (line) => console.log(line),
  });
  console.log(
    `\nchaos: ${r.lives.length} SIGKILLs (seed ${r.seed}) on Kafka ${cluster.version}, ${r.seconds.toFixed(1)} s: ` +
      `${r.published} published, ${r.acked} PUBACKed, ${r.messages} messages in Kafka, ${r.unique} distinct ` +
      `readings, ${r.lost} PUBACKed missing; duplicates ${r.duplicates} (${r.sameEntryCopies} resends of a ` +
      `queued entry, ${r.restored} retransmissions stored again); ${r.deliveredUnacked} delivered without a PUBACK`,
  );
  console.log(
    `kills with publishes in flight: ${r.lives.filter((l) => l.inflight > 0).length}/${r.lives.length}, ` +
      `with cursor lag > 0: ${r.lives.filter((l) => l.lag > 0).length}/${r.lives.length}, steady kills after ` +
      `the sink had drained in that life: ${r.lives.filter((l) => l.drained > 0).length}`,
  );
  for (const p of r.problems) console.log(`  PROBLEM ${p}`);
  failed = r.problems.length > 0 || r.lost > 0;
  console.log(failed ? 'FAIL' : 'PASS');
} finally {
  await cluster.close();
}
process.exit(failed ? 1 : 0);
