// kill -9 rounds: MQTT.js QoS 1 publishers keep publishing into the real gateway (mqtt_broker -> LMDB queue ->
// kafka sink -> a real Kafka cluster) while it is SIGKILLed at random moments and restarted on the same data
// dir, `rounds` times; then a last life drains everything and kcat reads the topic back. The guarantee: every
// PUBACKed reading is in Kafka; duplicates only of readings that arrived. Shared by kill9.test.ts (short, on
// the run's shared cluster) and run.mjs (`npm run chaos -- --rounds 20`, a cluster of its own).
// Kill moments alternate between a life's first moments (the sink re-draining what the last life queued but
// Kafka had not acknowledged, while the publishers resend what got no PUBACK) and later, within 1.5 s of the
// sink's first acknowledged batch in that life, in steady ingest and drain. Small batches without linger keep a produce request in flight most of the time, so kills land
// between Kafka's ack and the queue's as well as between an append and its PUBACK.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/net.mjs';
import { until } from '../helpers/wait.mjs';
import { startFleet } from './fleet.mjs';
import { gatewayConfig, startGateway } from './gateway-proc.mjs';
import { verifyTopic } from './verify.mjs';

/** The sink batches of the chaos rounds: small, no linger, fast retries (see above). */
export const CHAOS_SINK = {
  batch: { max_count: 100, linger_ms: 0 },
  retry: { initial_ms: 20, max_ms: 200 },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A small seeded generator (mulberry32), so a failing run's kill moments can be replayed with its seed. */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs the rounds against `bootstrap` (the topic must exist) and returns the rounds, the read-back figures
 * (verify.mjs) and `problems` (empty when the guarantee held). `log` gets one line per round.
 */
export async function runChaos({
  bootstrap,
  topic,
  rounds = 5,
  clients = 8,
  window = 16,
  seed = Date.now() % 2 ** 31,
  log = () => undefined,
  sink = {},
}) {
  const started = performance.now();
  const rand = random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-chaos-'));
  const mqttPort = await freePort();
  const config = gatewayConfig({
    id: 'gw-chaos',
    dataDir: join(dir, 'data'),
    mqttPort,
    httpPort: await freePort(),
    brokers: [...bootstrap],
    topic,
    sink: { ...CHAOS_SINK, ...sink },
  });
  const lives = [];
  let gw = await startGateway(config, dir);
  const fleet = await startFleet({ url: `mqtt://127.0.0.1:${mqttPort}`, clients, window, reconnectMs: 100 });
  try {
    for (let round = 1; round <= rounds; round++) {
      const early = round % 2 === 1;
      const t0 = performance.now();
      let lag = 0;
      let drained = 0; // readings the sink acknowledged in this life, as far as the status showed
      if (!early) {
        // Steady: once the sink is connected and has acknowledged readings in this life (however long
        // starting takes on a loaded machine), so that the kill lands in running ingest and drain.
        let base;
        await until(
          async () => {
            const s = await gw.status();
            const c = s.queue.cursors[0];
            lag = c?.lag ?? lag;
            base ??= c?.acked;
            drained = (c?.acked ?? 0) - (base ?? 0);
            return s.sinks[0]?.connected === true && drained > 0;
          },
          { timeoutMs: 60_000, intervalMs: 50, what: `round ${round}: the sink acknowledging readings` },
        );
      }
      // Early: within 0.6 s of the listener coming up (start-up, the re-drain of the last life's backlog);
      // steady: within 1.5 s of the first acknowledged drain.
      const lifeMs = rand() * (early ? 600 : 1_500);
      const t1 = performance.now();
      let lastStatusAt = 0;
      while (performance.now() - t1 < lifeMs) {
        // The cursor's lag as the gateway last reported it: readings queued that Kafka has not acknowledged.
        if (performance.now() - lastStatusAt > 100) {
          lastStatusAt = performance.now();
          gw.status().then(
            (s) => (lag = s.queue?.cursors?.[0]?.lag ?? lag),
            () => undefined, // not listening yet, or the answer raced the kill: the last value stands
          );
        }
        await sleep(Math.min(20, Math.max(0, lifeMs - (performance.now() - t1))));
      }
      const inflight = fleet.inflight();
      const ackedBefore = fleet.ledger.ackedCount;
      const { signal } = await gw.kill9();
      if (signal !== 'SIGKILL')
        throw new Error(`round ${round}: the gateway had already exited:\n${gw.tail()}`);
      const life = {
        round,
        phase: early ? 'early' : 'steady',
        lifeMs: Math.round(performance.now() - t0),
        drained,
        inflight,
        lag,
        acked: ackedBefore,
        ackedInLife: ackedBefore - (lives[lives.length - 1]?.acked ?? 0),
      };
      lives.push(life);
      log(
        `round ${round}/${rounds}: SIGKILL after ${life.lifeMs} ms (${life.phase}), ${inflight} publishes in ` +
          `flight, last cursor lag ${lag}, ${ackedBefore} PUBACKed so far`,
      );
      // Down for a moment: the clients see the connection drop, then reconnect to the next life.
      await sleep(rand() * 300);
      gw = await startGateway(config, dir);
    }
    // The last life: publishing stops, every publish still in flight gets its PUBACK, the queue drains.
    fleet.pause();
    const unsettled = await fleet.settle(60_000);
    if (unsettled > 0) throw new Error(`${unsettled} publishes never got a PUBACK from the last gateway`);
    await until(
      async () => {
        const s = await gw.status();
        return s.queue?.cursors?.[0]?.lag === 0;
      },
      { timeoutMs: 120_000, intervalMs: 200, what: 'the last gateway drained its queue to Kafka' },
    );
  } finally {
    await fleet.stop();
    await gw.stop();
  }
  const ledger = fleet.ledger;
  const check = await verifyTopic(bootstrap, topic, ledger);
  rmSync(dir, { recursive: true, force: true });
  return {
    seed,
    lives,
    published: ledger.publishedCount,
    seconds: (performance.now() - started) / 1000,
    ...check,
  };
}
