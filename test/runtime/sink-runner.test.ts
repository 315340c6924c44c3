import { expect, test, vi, type Mock } from 'vitest';
import type { ComponentHealth, Sink, SinkProgress } from '../../gateway/components.js';
import { SluiceError } from '../../gateway/errors.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { noMetrics, type ComponentMetrics } from '../../gateway/metrics-spec.js';
import { Queue } from '../../gateway/queue/queue.js';
import type { QueuedReading } from '../../gateway/reading.js';
import { SinkRunner } from '../../gateway/runtime/sink-runner.js';
import { readings } from '../helpers/readings.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';

/** A scripted sink: records batches, fails on demand, refuses some readings for good. */
class ScriptedSink implements Sink {
  readonly type = 'scripted';
  readonly name = 'scripted';
  batches: number[][] = [];
  failures = 0;
  failWith: SluiceError | undefined;
  refuse = new Set<number>();
  /** Bytes reported per reading delivered for the first time (a resent one is skipped, as file and HDFS do). */
  bytesPerReading = 0;
  private delivered = 0;
  write(batch: readonly QueuedReading[]): Promise<SinkProgress> {
    if (this.failWith) {
      this.failures++;
      return Promise.reject(this.failWith);
    }
    this.batches.push(batch.map((r) => r.seq));
    const deadLetters = batch
      .filter((r) => this.refuse.has(r.seq))
      .map((reading) => ({ reading, error: new SluiceError('SLUICE_SINK_REJECTED', 'too large') }));
    const fresh = batch.filter((r) => r.seq > this.delivered && !this.refuse.has(r.seq)).length;
    const last = batch[batch.length - 1]!.seq;
    this.delivered = Math.max(this.delivered, last);
    const bytes = fresh * this.bytesPerReading;
    return Promise.resolve({ committedThrough: last, deadLetters, ...(bytes > 0 ? { bytes } : {}) });
  }
  connect = (): Promise<void> => Promise.resolve();
  flush = (): Promise<SinkProgress> => Promise.resolve({});
  close = (): Promise<void> => Promise.resolve();
  health = (): ComponentHealth => ({ state: 'healthy' });
}

const retry = { initial_ms: 5, max_ms: 20, multiplier: 2 };
// Polled as often as the sink retries, so a wait sees each step.
const poll = { intervalMs: 5 };

test('batches are bounded by max_count and sent in sequence order', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const sink = new ScriptedSink();
  const runner = new SinkRunner(
    sink,
    q,
    { startFrom: 'oldest', batch: { max_count: 40, max_bytes: 1 << 20, linger_ms: 0 }, retry },
    silentLogger,
    noMetrics,
  );
  await q.append(readings(100));
  await runner.start();
  await until(() => q.cursorPosition('scripted') === 100, poll);
  await runner.stop();
  expect(sink.batches.every((b) => b.length <= 40)).toBe(true);
  expect(sink.batches.flat()).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  await q.close();
});

test('linger_ms gathers small appends into one batch', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const sink = new ScriptedSink();
  const runner = new SinkRunner(
    sink,
    q,
    { startFrom: 'oldest', batch: { max_count: 50, max_bytes: 1 << 20, linger_ms: 300 }, retry },
    silentLogger,
    noMetrics,
  );
  await runner.start();
  for (let i = 0; i < 10; i++) await q.append(readings(5, i * 5));
  await until(() => q.cursorPosition('scripted') === 50, poll);
  await runner.stop();
  expect(sink.batches.length).toBeLessThanOrEqual(3);
  await q.close();
});

test('a failing upstream is retried with backoff and nothing is skipped or acked early, even for non-retriable errors', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const sink = new ScriptedSink();
  sink.failWith = new SluiceError('SLUICE_AUTH', 'not authorized', { retriable: false });
  const runner = new SinkRunner(
    sink,
    q,
    { startFrom: 'oldest', batch: { max_count: 10, max_bytes: 1 << 20, linger_ms: 0 }, retry },
    silentLogger,
    noMetrics,
  );
  await q.append(readings(25));
  await runner.start();
  await until(() => sink.failures >= 5, poll);
  expect(q.cursorPosition('scripted')).toBe(0);
  expect(runner.status().consecutiveFailures).toBeGreaterThanOrEqual(5);
  sink.failWith = undefined;
  await until(() => q.cursorPosition('scripted') === 25, poll);
  await runner.stop();
  expect(sink.batches.flat()).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  await q.close();
});

/** Pipelines like the Kafka sink: write() starts a send and reports the previous one, which always fails. */
class PipelinedFailingSink extends ScriptedSink {
  private inflight = false;
  override write(batch: readonly QueuedReading[]): Promise<SinkProgress> {
    this.batches.push(batch.map((r) => r.seq));
    const previous = this.inflight;
    this.inflight = true;
    if (!previous) return Promise.resolve({}); // nothing settled yet: no progress to report
    this.inflight = false;
    this.failures++;
    return Promise.reject(new SluiceError('SLUICE_SINK_WRITE', 'NOT_ENOUGH_REPLICAS', { retriable: true }));
  }
  override flush = (): Promise<SinkProgress> => this.write([]);
}

test('a pipelining sink whose sends all fail: failures accumulate and back off, nothing is acked', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const sink = new PipelinedFailingSink();
  const runner = new SinkRunner(
    sink,
    q,
    { startFrom: 'oldest', batch: { max_count: 10, max_bytes: 1 << 20, linger_ms: 0 }, retry },
    silentLogger,
    noMetrics,
  );
  await q.append(readings(100));
  await runner.start();
  // A write that only started a send (and returned no progress) must not end the run of failures.
  await until(() => runner.status().consecutiveFailures >= 5, poll);
  await runner.stop();
  expect(q.cursorPosition('scripted')).toBe(0);
  expect(runner.status().lastError?.message).toMatch(/NOT_ENOUGH_REPLICAS/);
  await q.close();
});

test('readings the upstream refuses for good become dead letters and do not block the queue', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const sink = new ScriptedSink();
  sink.refuse = new Set([3, 7]);
  const runner = new SinkRunner(
    sink,
    q,
    { startFrom: 'oldest', batch: { max_count: 100, max_bytes: 1 << 20, linger_ms: 0 }, retry },
    silentLogger,
    noMetrics,
  );
  await q.append(readings(10));
  await runner.start();
  await until(() => q.cursorPosition('scripted') === 10, poll);
  await runner.stop();
  expect(q.deadLetters('scripted').map((d) => [d.seq, d.code])).toEqual([
    [3, 'SLUICE_SINK_REJECTED'],
    [7, 'SLUICE_SINK_REJECTED'],
  ]);
  await q.close();
});

test('while the queue refuses acks (a full disk), the sink is shown degraded with why, and recovers once acks commit', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const sink = new ScriptedSink();
  const runner = new SinkRunner(
    sink,
    q,
    { startFrom: 'oldest', batch: { max_count: 10, max_bytes: 1 << 20, linger_ms: 0 }, retry },
    silentLogger,
    noMetrics,
  );
  const ack = q.ack.bind(q);
  let refuse = true;
  q.ack = (...args: Parameters<Queue['ack']>) =>
    refuse
      ? Promise.reject(new SluiceError('SLUICE_QUEUE_FULL', 'the disk holding the queue is full'))
      : ack(...args);
  await q.append(readings(30));
  await runner.start();
  await until(() => runner.status().consecutiveFailures >= 2, poll);
  expect(runner.status().health).toMatchObject({
    state: 'degraded',
    detail: 'cannot record progress in the queue: the disk holding the queue is full',
    lastError: { code: 'SLUICE_QUEUE_FULL' },
  });
  expect(q.cursorPosition('scripted')).toBe(0);
  refuse = false;
  await until(() => q.cursorPosition('scripted') === 30, poll);
  expect(runner.status().health.state).toBe('healthy');
  await runner.stop();
  await q.close();
});

/** Metrics that keep every sent() call, to see who counts what and when. */
function recordingMetrics(): ComponentMetrics & { sent: Mock<ComponentMetrics['sent']> } {
  return { ...noMetrics, sent: vi.fn<ComponentMetrics['sent']>() };
}

test('the runner counts sent events and the bytes the sink reports together, at the ack', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const sink = new ScriptedSink();
  sink.bytesPerReading = 10;
  sink.refuse = new Set([7]);
  const metrics = recordingMetrics();
  const runner = new SinkRunner(
    sink,
    q,
    { startFrom: 'oldest', batch: { max_count: 10, max_bytes: 1 << 20, linger_ms: 0 }, retry },
    silentLogger,
    metrics,
  );
  await q.append(readings(30));
  await runner.start();
  await until(() => q.cursorPosition('scripted') === 30, poll);
  await runner.stop();
  const calls = metrics.sent.mock.calls;
  // One call per ack, events and bytes in the same call; the dead letter is neither.
  expect(calls.every(([events, bytes]) => bytes === events * 10)).toBe(true);
  expect(calls.reduce((n, [e]) => n + e, 0)).toBe(29);
  expect(calls.reduce((n, [, b]) => n + b, 0)).toBe(290);
  await q.close();
});

test('bytes delivered while the queue refused the ack are counted by the ack that commits them', async () => {
  const q = Queue.open({ dir: tempDir(), maxBytes: 1 << 30, onFull: 'reject_new' });
  const sink = new ScriptedSink();
  sink.bytesPerReading = 10;
  const metrics = recordingMetrics();
  const runner = new SinkRunner(
    sink,
    q,
    { startFrom: 'oldest', batch: { max_count: 10, max_bytes: 1 << 20, linger_ms: 0 }, retry },
    silentLogger,
    metrics,
  );
  const ack = q.ack.bind(q);
  let refuse = true;
  q.ack = (...args: Parameters<Queue['ack']>) =>
    refuse ? Promise.reject(new SluiceError('SLUICE_QUEUE_FULL', 'the disk is full')) : ack(...args);
  await q.append(readings(10));
  await runner.start();
  await until(() => runner.status().consecutiveFailures >= 2, poll);
  expect(metrics.sent).not.toHaveBeenCalled();
  refuse = false;
  await until(() => q.cursorPosition('scripted') === 10, poll);
  await runner.stop();
  // The resent batch reported no bytes (already delivered); the first delivery's bytes were kept.
  expect(metrics.sent.mock.calls).toEqual([[10, 100]]);
  await q.close();
});
