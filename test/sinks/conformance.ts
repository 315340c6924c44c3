// The conformance suite every sink runs (after Redpanda Connect's StreamTests): open/close, a stream of N
// readings arrives complete and in order, the upstream fails and nothing is lost, a restart mid-stream
// leaves only duplicates that carry the same (gateway, seq) id. Each sink supplies a harness.
import { afterEach, describe, expect, test } from 'vitest';
import type { Sink } from '../../gateway/components.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { noMetrics } from '../../gateway/metrics-spec.js';
import { Queue } from '../../gateway/queue/queue.js';
import { SinkRunner } from '../../gateway/runtime/sink-runner.js';
import { readings } from '../helpers/readings.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';

/** What arrived upstream, as (seq, device, metric, value) in the order upstream holds it. */
export interface Delivered {
  readonly seq: number;
  readonly id: string;
  readonly device: string;
  readonly value: unknown;
}

export interface SinkHarness {
  /** A new sink instance against the same upstream (called again to simulate a restart). */
  create(): Sink;
  delivered(): Promise<Delivered[]>;
  /** Makes the upstream fail (unreachable, refusing writes) until heal(). */
  breakUpstream(): Promise<void>;
  healUpstream(): Promise<void>;
  /** True when the upstream keeps exactly one copy per id even across restarts (file, HDFS). */
  readonly exactlyOnce: boolean;
  close?(): Promise<void>;
}

const fast = { initial_ms: 20, max_ms: 200, multiplier: 2 };
const wait = { timeoutMs: 20_000 };

export function sinkConformance(name: string, makeHarness: () => Promise<SinkHarness>): void {
  describe(`${name}: sink conformance`, () => {
    let harness: SinkHarness | undefined;
    afterEach(async () => {
      await harness?.close?.();
      harness = undefined;
    });

    async function pipeline(
      h: SinkHarness,
      batch = { max_count: 100, max_bytes: 1 << 20, linger_ms: 5 },
    ): Promise<{ queue: Queue; runner: SinkRunner }> {
      const queue = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
      const runner = new SinkRunner(
        h.create(),
        queue,
        { startFrom: 'oldest', batch, retry: fast, idleFlushMs: 50 },
        silentLogger,
        noMetrics,
      );
      await runner.start();
      return { queue, runner };
    }

    const unique = (d: Delivered[]): number[] => [...new Set(d.map((x) => x.seq))].sort((a, b) => a - b);
    const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

    test('opens, flushes and closes cleanly', async () => {
      harness = await makeHarness();
      const sink = harness.create();
      await sink.connect();
      await sink.flush('shutdown');
      await sink.close();
      expect(sink.health().state).toBe('stopped');
    });

    test('a stream of 2,000 readings arrives complete, once each, in order', async () => {
      harness = await makeHarness();
      const { queue, runner } = await pipeline(harness);
      for (let i = 0; i < 20; i++) await queue.append(readings(100, i * 100));
      await until(
        () =>
          queue.cursorStats(runner.sink.name).lag === 0 || queue.cursorPosition(runner.sink.name) === 2000,
        wait,
      );
      await runner.stop();
      const got = await harness.delivered();
      expect(got.map((d) => d.seq)).toEqual(range(2000));
      expect(got[0]).toMatchObject({ device: 'dev-0', value: 20 });
      expect(queue.stats().depth).toBe(0);
      await queue.close();
    });

    test('the upstream fails for a while: nothing lost, nothing acked before delivery', async () => {
      harness = await makeHarness();
      const h = harness;
      const { queue, runner } = await pipeline(h);
      await queue.append(readings(300));
      await until(() => queue.cursorPosition(runner.sink.name) > 0, wait);
      await h.breakUpstream();
      await queue.append(readings(300, 300));
      await until(() => runner.status().consecutiveFailures >= 3, wait);
      // While broken, the ack never passes what upstream holds.
      const held = unique(await h.delivered());
      expect(queue.cursorPosition(runner.sink.name)).toBeLessThanOrEqual(
        held.length === 0 ? 0 : held[held.length - 1]!,
      );
      await h.healUpstream();
      await until(() => queue.cursorPosition(runner.sink.name) === 600, wait);
      await runner.stop();
      const got = await h.delivered();
      expect(unique(got)).toEqual(range(600));
      if (h.exactlyOnce) expect(got).toHaveLength(600);
      await queue.close();
    });

    test('a restart mid-stream loses nothing; any duplicate carries the same id', async () => {
      harness = await makeHarness();
      const h = harness;
      const dir = tempDir();
      const open = (): Queue => Queue.open({ dir, maxBytes: 1 << 30, onFull: 'reject_new' });
      let queue = open();
      const mk = (q: Queue): SinkRunner =>
        new SinkRunner(
          h.create(),
          q,
          {
            startFrom: 'oldest',
            batch: { max_count: 50, max_bytes: 1 << 20, linger_ms: 0 },
            retry: fast,
            idleFlushMs: 50,
          },
          silentLogger,
          noMetrics,
        );
      let runner = mk(queue);
      await runner.start();
      await queue.append(readings(1000));
      await until(() => queue.cursorPosition(runner.sink.name) >= 200, wait);
      await runner.stop();
      await queue.close();
      queue = open();
      runner = mk(queue);
      await runner.start();
      await until(() => queue.cursorPosition(runner.sink.name) === 1000, wait);
      await runner.stop();
      const got = await h.delivered();
      expect(unique(got)).toEqual(range(1000));
      const byId = new Map<string, Delivered>();
      for (const d of got) {
        const prev = byId.get(d.id);
        if (prev) expect(prev).toEqual(d);
        byId.set(d.id, d);
      }
      if (h.exactlyOnce) expect(got).toHaveLength(1000);
      await queue.close();
    });
  });
}
