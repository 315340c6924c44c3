// The status shapes a running gateway reports (the queue, each source and sink runner, the fleet channels)
// and the one judgement of them that readiness (observe/health.ts) and the fleet health gate share. A low
// module: observe/ and fleet/ read these shapes without importing the runtime that fills them in.
import type { ComponentHealth } from './components.js';

export interface CursorStats {
  readonly name: string;
  /** Highest sequence this cursor has acknowledged. */
  readonly acked: number;
  /** Entries retained that this cursor has not acknowledged. */
  readonly lag: number;
  /** Age in ms of the oldest entry this cursor has not acknowledged; null when it is caught up. */
  readonly oldestUnackedAgeMs: number | null;
  /** Entries dropped by `drop_oldest` before this cursor acknowledged them. */
  readonly dropped: number;
  readonly createdAt: number;
}

export interface QueueStats {
  /** First sequence number this queue ever assigned. */
  readonly origin: number;
  readonly depth: number;
  readonly bytes: number;
  readonly maxBytes: number;
  /** queue.on_full in force. */
  readonly onFull: 'drop_oldest' | 'reject_new';
  /** First retained sequence; `lastSeq + 1` when empty. */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Entries dropped by `drop_oldest` since the queue was created. */
  readonly dropped: number;
  /** Appends refused by `reject_new` (readings) since this process opened the queue. */
  readonly rejected: number;
  /** Transactions committed (and flushed) since this process opened the queue. */
  readonly commits: number;
  /** How the next commit waits for the disk (`auto` resolves to one of the two). */
  readonly commitMode: 'inline' | 'background';
  /** Times `auto` moved commits off the event loop because inline fsyncs were slow. */
  readonly commitModeFallbacks: number;
  readonly deadLetters: number;
  /** The last append round found the disk too full to take readings (they are refused and counted). */
  readonly diskFull: boolean;
  readonly cursors: readonly CursorStats[];
}

/** One source, as the gateway reports it. */
export interface SourceStatus {
  readonly name: string;
  readonly type: string;
  readonly health: ComponentHealth;
  /** Rejected inputs by `device/reason`. */
  readonly rejected: Record<string, number>;
}

/** The last error a sink's connect, write or flush failed with (cleared by the next success). */
export interface LastSinkError {
  readonly code: string;
  readonly message: string;
  readonly retriable: boolean;
  readonly at: number;
}

/** One sink runner, as runtime/sink-runner.ts reports it. */
export interface SinkRunnerStatus {
  readonly sink: string;
  readonly type: string;
  readonly connected: boolean;
  readonly health: ComponentHealth;
  readonly consecutiveFailures: number;
  /** Lets the fleet health gate tell "upstream down, retrying" from "failing because of its config". */
  readonly lastError: LastSinkError | undefined;
  readonly lastAckAt: number | undefined;
  /** Sequence the runner has fed to the sink (may be ahead of the durable ack). */
  readonly position: number;
  /** The call into the sink that has not returned yet, and since when (a hung filesystem, a stuck peer). */
  readonly pending?: { readonly op: 'connect' | 'write' | 'flush'; readonly since: number } | undefined;
}

/** One fleet channel, as the fleet layer reports it. */
export interface ChannelStatus {
  readonly channel: 'mqtt' | 'http';
  /** Broker or bundle URL (passwords in it are redacted by the status API). */
  readonly url: string;
  /** `connecting`: not through yet, or lost and retrying. */
  readonly state: 'connected' | 'connecting';
  /** Failed attempts since the channel last got through. */
  readonly attempts: number;
  readonly lastError: { readonly message: string; readonly at: number } | null;
  readonly nextRetryAt: number | null;
  readonly connectedAt: number | null;
}

/** The last reload of the local file (SIGHUP or a changed file). */
export interface ReloadStatus {
  readonly result: 'ok' | 'failed';
  /** `applied`, `rejected` (invalid or needs a restart) or `rolled_back` (worse health). */
  readonly outcome: string;
  readonly reason?: string;
  readonly error?: string;
  readonly at: number;
}

/** How this gateway takes changes: its fleet channels and its last local reload. */
export interface ControlStatus {
  readonly channels: readonly ChannelStatus[];
  readonly reload: ReloadStatus | null;
}

export interface GatewayStatus {
  readonly gateway: string;
  readonly startedAt: number;
  readonly queue: QueueStats;
  readonly sources: readonly SourceStatus[];
  readonly sinks: readonly SinkRunnerStatus[];
  /** Null until the fleet layer reports (a gateway started on its own, in tests and benchmarks). */
  readonly control: ControlStatus | null;
}

// The judgement. A component is *failing* when it fails for a reason its config can cause:
// - a source whose health is `unhealthy` (a listener that cannot bind, a serial port that is missing);
// - a sink that cannot connect or write for a reason other than an unreachable upstream (a broker that is
//   down is what the queue is for, and changing the config would not bring it back), or whose connect has
//   not returned for `connectStuckAfterMs`.
// Both callers use this one rule and differ only in what they add to it and how long they wait:
// - the fleet health gate and the fleet status report take the failing components as they are, judged
//   after the grace period, so a connect still pending then counts at once (`connectStuckAfterMs` 0);
// - readiness (/readyz) gives a pending connect observe.health.stall_after_ms, and also wants every source
//   working (healthy or degraded): a source still `starting` (an MQTT client whose broker is down) is not
//   ready, yet it is not the config's fault, so the fleet does not roll a config back for it.

/** Failing components: `source NAME` / `sink NAME` -> why. */
export type Problems = ReadonlyMap<string, string>;

/** Whether a component is doing its work: healthy, or degraded but still moving data. */
export function isWorking(health: ComponentHealth): boolean {
  return health.state === 'healthy' || health.state === 'degraded';
}

/** Why one sink is failing (see above), or undefined. */
function sinkProblem(s: SinkRunnerStatus, now: number, connectStuckAfterMs: number): string | undefined {
  const e = s.lastError;
  const upstreamDown = e !== undefined && e.retriable && e.code === 'SLUICE_UPSTREAM_UNREACHABLE';
  if (upstreamDown) return undefined;
  if ((!s.connected && s.consecutiveFailures > 0) || s.health.state === 'unhealthy')
    return e ? `${e.code}: ${e.message}` : (s.health.detail ?? 'unhealthy');
  if (!s.connected && s.pending?.op === 'connect' && now - s.pending.since >= connectStuckAfterMs)
    return `connect has not returned for ${Math.round((now - s.pending.since) / 1000)} s`;
  return undefined;
}

/** Every failing component of `status` (see above), sources first, in the order the status lists them. */
export function failingComponents(status: GatewayStatus, now: number, connectStuckAfterMs: number): Problems {
  const out = new Map<string, string>();
  for (const s of status.sources) {
    if (s.health.state === 'unhealthy') out.set(`source ${s.name}`, s.health.detail ?? 'unhealthy');
  }
  for (const s of status.sinks) {
    const why = sinkProblem(s, now, connectStuckAfterMs);
    if (why !== undefined) out.set(`sink ${s.sink}`, why);
  }
  return out;
}
