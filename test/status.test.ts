// The one judgement of a gateway's status (gateway/status.ts) that readiness and the fleet health gate share:
// what counts as failing because of the config, and what is only waiting for an upstream.
import { expect, test } from 'vitest';
import { problems } from '../gateway/fleet/health.js';
import {
  failingComponents,
  isWorking,
  type GatewayStatus,
  type SinkRunnerStatus,
  type SourceStatus,
} from '../gateway/status.js';

const now = 1_000_000;

function sink(over: Partial<SinkRunnerStatus> = {}): SinkRunnerStatus {
  return {
    sink: 'out',
    type: 'file',
    connected: true,
    health: { state: 'healthy' },
    consecutiveFailures: 0,
    lastError: undefined,
    lastAckAt: now,
    position: 0,
    ...over,
  };
}

function status(sinks: SinkRunnerStatus[], sources: SourceStatus[] = []): GatewayStatus {
  return {
    gateway: 'gw',
    startedAt: 0,
    queue: {
      origin: 1,
      depth: 0,
      bytes: 0,
      maxBytes: 1 << 20,
      onFull: 'drop_oldest',
      firstSeq: 1,
      lastSeq: 0,
      dropped: 0,
      rejected: 0,
      commits: 0,
      commitMode: 'inline',
      commitModeFallbacks: 0,
      deadLetters: 0,
      diskFull: false,
      cursors: [],
    },
    sources,
    sinks,
    control: null,
  };
}

const source = (state: SourceStatus['health']['state'], detail?: string): SourceStatus => ({
  name: 'in',
  type: 'mqtt_client',
  health: detail === undefined ? { state } : { state, detail },
  rejected: {},
});

test('a sink that cannot connect for a reason of its own is failing, with its error', () => {
  const broken = sink({
    connected: false,
    consecutiveFailures: 3,
    lastError: { code: 'EACCES', message: 'permission denied, open /out', retriable: false, at: now },
  });
  expect([...failingComponents(status([broken]), now, 0)]).toEqual([
    ['sink out', 'EACCES: permission denied, open /out'],
  ]);
});

test('a sink retrying an unreachable upstream is not failing: that is what the queue is for', () => {
  const down = sink({
    connected: false,
    consecutiveFailures: 5,
    health: { state: 'degraded' },
    lastError: { code: 'SLUICE_UPSTREAM_UNREACHABLE', message: 'no broker', retriable: true, at: now },
  });
  expect(failingComponents(status([down]), now, 0).size).toBe(0);
});

test('a connect that has not returned counts once the caller has waited long enough', () => {
  const pending = sink({ connected: false, pending: { op: 'connect', since: now - 5_000 } });
  // The fleet gate has waited its grace period already; readiness gives it stall_after_ms.
  expect(failingComponents(status([pending]), now, 0).get('sink out')).toBe(
    'connect has not returned for 5 s',
  );
  expect(failingComponents(status([pending]), now, 60_000).size).toBe(0);
});

test('an unhealthy source is failing; a starting one is not (readiness asks more: isWorking)', () => {
  const s = status(
    [],
    [source('unhealthy', 'cannot bind 127.0.0.1:1883'), { ...source('starting'), name: 'b' }],
  );
  expect([...failingComponents(s, now, 0)]).toEqual([['source in', 'cannot bind 127.0.0.1:1883']]);
  expect(isWorking({ state: 'starting' })).toBe(false);
  expect(isWorking({ state: 'degraded' })).toBe(true);
});

test('the fleet health gate judges by the same rule, with no extra patience for a pending connect', () => {
  const s = status(
    [sink({ connected: false, pending: { op: 'connect', since: now - 1 } })],
    [source('unhealthy')],
  );
  expect([...problems(s, now)]).toEqual([...failingComponents(s, now, 0)]);
  expect([...problems(s, now)]).toEqual([
    ['source in', 'unhealthy'],
    ['sink out', 'connect has not returned for 0 s'],
  ]);
});
