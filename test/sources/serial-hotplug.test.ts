// Unplug and replug: socat is killed (the pty vanishes, as a USB adapter's tty does) and restarted on the same
// link paths, again and again. The source must notice, reopen within 2 s of the port returning, lose no
// descriptor, and keep exact counters. test/bench/serial-chaos.mjs runs the same loop for 100 rounds.
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/wait.mjs';
import { SerialHarness, SimDevice, openFds, serialWait } from './serial-harness.js';

const ROUNDS = 100;
const LINES_PER_ROUND = 50;

describe('serial source: hotplug', () => {
  it(`reconnects after each of ${ROUNDS} unplugs within 2 s, with a flat fd count and exact counters`, async () => {
    const h = await SerialHarness.start({
      driver: { type: 'lines', format: { type: 'kv' } },
      check_interval_ms: 100,
      reopen_initial_ms: 50,
      reopen_max_ms: 500,
    });
    try {
      await until(() => h.source.stats().connected, { ...serialWait, what: 'first open' });
      const latencies: number[] = [];
      let fdsAfterFirst = 0;
      let bytes = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        const sim = await SimDevice.open(h.pair.simPath);
        const text = Array.from({ length: LINES_PER_ROUND }, (_, i) => `round=${round} line=${i}\n`).join('');
        await sim.write(text);
        bytes += text.length;
        await until(() => h.source.stats().readings === round * LINES_PER_ROUND * 2, {
          ...serialWait,
          what: `round ${round} readings`,
        });
        await sim.close();
        expect(sim.errors).toEqual([]);

        // Unplug: half the rounds with SIGKILL, which leaves the links dangling like a stale by-id link.
        await h.pair.stop(round % 2 === 0 ? 'SIGKILL' : 'SIGTERM');
        await until(() => h.source.stats().disconnects === round, {
          ...serialWait,
          what: `round ${round} unplug noticed`,
        });
        expect(h.source.health().state).toBe('degraded');

        await h.pair.start();
        const replugged = performance.now();
        await until(() => h.source.stats().reconnects === round, {
          ...serialWait,
          what: `round ${round} reopen`,
          timeoutMs: 2000,
        });
        latencies.push(performance.now() - replugged);
        expect(h.source.stats().connected).toBe(true);
        if (round === 1) fdsAfterFirst = openFds();
      }
      expect(openFds()).toBe(fdsAfterFirst);
      expect(Math.max(...latencies)).toBeLessThan(2000);
      console.info(
        `reopen after replug: max ${Math.max(...latencies).toFixed(0)} ms, mean ${(latencies.reduce((a, b) => a + b, 0) / latencies.length).toFixed(0)} ms`,
      );
      const stats = h.source.stats();
      expect(stats).toMatchObject({
        connected: true,
        reconnects: ROUNDS,
        disconnects: ROUNDS,
        frames: ROUNDS * LINES_PER_ROUND,
        bad_frames: 0,
        bytes,
        readings: ROUNDS * LINES_PER_ROUND * 2,
        dropped_overflow: 0,
      });
      expect(h.source.health().state).toBe('healthy');
      const lines = h.readings().filter((r) => r.metric === 'line');
      expect(lines).toHaveLength(ROUNDS * LINES_PER_ROUND);
    } finally {
      await h.close();
    }
  });
});
