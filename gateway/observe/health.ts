// /healthz and /readyz: "looks alive but stuck" made visible. Liveness fails when a sink that is connected
// and healthy has readings waiting but acknowledged nothing for stall_after_ms, or when the data disk is
// nearly full; readiness also needs every source to be up. Each failure is a reason a person can act on.
import { statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Queue } from '../queue/queue.js';
import { failingComponents, isWorking, type GatewayStatus } from '../status.js';
import { redact } from './log.js';
import type { GatewayMetrics } from './metrics.js';

function redactUrl(text: string): string {
  const out = redact(text);
  return typeof out === 'string' ? out : text;
}

/** What the observe layer needs from a running Gateway (kept narrow so it can be tested on its own). */
export interface ObservedGateway {
  readonly config: Config;
  readonly startedAt: number;
  readonly metrics: GatewayMetrics;
  readonly queue: Queue;
  readonly log: Logger;
  status(): GatewayStatus;
}

export interface DiskReport {
  readonly path: string;
  readonly freeBytes: number;
  readonly totalBytes: number;
  readonly freePercent: number;
}

export interface HealthReport {
  readonly status: 'ok' | 'fail';
  readonly check: 'live' | 'ready';
  readonly at: number;
  /** Why the check fails; empty when it passes. */
  readonly reasons: string[];
  /** Worth knowing, but not a failure (an upstream that is down is what the queue is for). */
  readonly warnings: string[];
  readonly disk: DiskReport | null;
}

/** Whether one sink is stuck: readings waiting, upstream connected and healthy, no ack for too long. */
export function sinkStall(
  sink: GatewayStatus['sinks'][number],
  cursor: GatewayStatus['queue']['cursors'][number] | undefined,
  startedAt: number,
  stallAfterMs: number,
  now: number,
): { stalledMs: number; reachable: boolean; lag: number } {
  const lag = cursor?.lag ?? 0;
  const reachable = sink.connected && isWorking(sink.health);
  // Progress is the later of the last ack and the arrival of the oldest waiting reading: a sink that was
  // idle for an hour is not stuck the moment a new reading arrives.
  const waitingSince = now - (cursor?.oldestUnackedAgeMs ?? 0);
  const lastProgress = Math.max(sink.lastAckAt ?? startedAt, waitingSince, startedAt);
  const stalledMs = lag > 0 ? now - lastProgress : 0;
  return { stalledMs: stalledMs > stallAfterMs ? stalledMs : 0, reachable, lag };
}

export async function checkHealth(
  gw: ObservedGateway,
  check: 'live' | 'ready',
  now = Date.now(),
): Promise<HealthReport> {
  const opts = gw.config.observe.health;
  const status = gw.status();
  const reasons: string[] = [];
  const warnings: string[] = [];
  // The judgement the fleet health gate uses too (gateway/status.ts); readiness gives a pending connect
  // stall_after_ms before it counts.
  const failing = check === 'ready' ? failingComponents(status, now, opts.stall_after_ms) : undefined;

  for (const sink of status.sinks) {
    const cursor = status.queue.cursors.find((c) => c.name === sink.sink);
    const s = sinkStall(sink, cursor, gw.startedAt, opts.stall_after_ms, now);
    // A sink that cannot start or write because of its own settings is not ready, whatever its lag: no
    // reading will ever leave through it until someone changes the config.
    const broken = failing?.get(`sink ${sink.sink}`);
    if (broken !== undefined) {
      reasons.push(
        `sink ${sink.sink}: ${broken}${sink.consecutiveFailures > 0 ? ` (${sink.consecutiveFailures} attempts)` : ''}`,
      );
    } else if (s.lag > 0 && s.reachable && s.stalledMs > 0) {
      reasons.push(
        `sink ${sink.sink}: ${s.lag} readings waiting and upstream connected, but nothing acknowledged for ${Math.round(s.stalledMs / 1000)} s (observe.health.stall_after_ms ${opts.stall_after_ms})`,
      );
    } else if (s.lag > 0 && !s.reachable) {
      warnings.push(
        `sink ${sink.sink}: upstream not available (${sink.health.state}${sink.health.detail ? `: ${sink.health.detail}` : ''}); ${s.lag} readings kept in the queue`,
      );
    }
  }

  // A fleet channel that cannot get through leaves the gateway running its config, unable to take a new
  // one: worth a warning, never a failure (readings flow as before).
  for (const ch of status.control?.channels ?? []) {
    if (ch.state === 'connected') continue;
    const retry =
      ch.nextRetryAt === null
        ? ''
        : `; next try in ${Math.max(0, Math.round((ch.nextRetryAt - now) / 1000))} s`;
    warnings.push(
      redactUrl(
        `fleet ${ch.channel} channel ${ch.url}: ${ch.attempts === 0 ? 'connecting' : `not reachable, ${ch.attempts} failed attempts`}${ch.lastError ? `, last error: ${ch.lastError.message}` : ''}${retry}`,
      ),
    );
  }

  let disk: DiskReport | null = null;
  const dir = gw.config.gateway.data_dir;
  try {
    const st = await statfs(dir);
    const totalBytes = st.blocks * st.bsize;
    const freeBytes = st.bavail * st.bsize;
    const freePercent = totalBytes > 0 ? (freeBytes / totalBytes) * 100 : 100;
    disk = { path: dir, freeBytes, totalBytes, freePercent: Math.round(freePercent * 100) / 100 };
    if (freeBytes < opts.disk_min_free_bytes || freePercent < opts.disk_min_free_percent) {
      reasons.push(
        `disk nearly full: ${dir} has ${freeBytes} bytes (${disk.freePercent}%) free; minimum ${opts.disk_min_free_bytes} bytes and ${opts.disk_min_free_percent}% (observe.health)`,
      );
    }
  } catch (err) {
    reasons.push(`cannot check free space of ${dir}: ${errorMessage(err)}`);
  }

  if (check === 'ready') {
    // Beyond the failing ones (`unhealthy`), readiness wants every source working: one still starting is
    // not ready, though not the config's fault (the fleet gate does not count it).
    for (const src of status.sources) {
      if (!isWorking(src.health)) {
        reasons.push(
          `source ${src.name}: ${src.health.state}${src.health.detail ? `: ${src.health.detail}` : ''}`,
        );
      }
    }
  }

  return { status: reasons.length === 0 ? 'ok' : 'fail', check, at: now, reasons, warnings, disk };
}
