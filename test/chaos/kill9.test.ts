// kill -9 at random moments while MQTT QoS 1 publishers feed the real gateway and it drains to the run's real
// Kafka cluster (chaos.mjs): every PUBACKed reading arrives in Kafka, duplicates only of delivered readings.
// The short version of `npm run chaos -- --rounds 20`; CHAOS_ROUNDS sets the rounds here.
import { expect, test } from 'vitest';
import { runChaos } from './chaos.mjs';
import { assertBuilt } from '../sinks/built.js';
import { createTopic, sharedKafka, uniqueTopic } from '../peers/kafka/index.js';

const kafka = sharedKafka();
const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 5);

test(`SIGKILL ${ROUNDS} times during MQTT ingest and Kafka drain: every PUBACKed reading in Kafka, duplicates only of delivered ones`, async () => {
  assertBuilt('kafka');
  const topic = uniqueTopic('chaos');
  await createTopic(kafka, topic, { partitions: 3 });
  const r = await runChaos({ bootstrap: kafka.bootstrap, topic, rounds: ROUNDS });
  console.info(
    `chaos: ${r.lives.length} SIGKILLs (seed ${r.seed}), ${r.seconds.toFixed(1)} s: ${r.acked} PUBACKed, ` +
      `${r.unique} distinct in Kafka, ${r.lost} missing, ${r.duplicates} duplicates ` +
      `(${r.sameEntryCopies} resends, ${r.restored} re-stored retransmissions)`,
  );
  expect(r.lives).toHaveLength(ROUNDS);
  // The kills hit a working gateway: publishes were in flight, and readings were acknowledged meanwhile.
  expect(r.lives.filter((l) => l.inflight > 0).length).toBeGreaterThanOrEqual(ROUNDS - 1);
  // Every steady life (0.5-2.5 s) took readings and acknowledged them before it was killed.
  expect(r.lives.filter((l) => l.phase === 'steady' && l.ackedInLife === 0)).toEqual([]);
  expect(r.problems).toEqual([]);
  expect(r.lost).toBe(0);
  expect(r.unique).toBeGreaterThanOrEqual(r.acked);
}, 180_000);
