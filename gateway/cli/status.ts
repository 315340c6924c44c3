// `sluice status`: a one-screen summary of a running gateway, read from its HTTP API on loopback
// (GET /api/status). Exit code 0 when healthy, 1 when unhealthy or unreachable.
import { loadConfigFile } from '../config/load.js';
import { SluiceError, errorMessage } from '../errors.js';
import type { StatusSnapshot } from '../observe/http-server.js';
import { formatAge, formatBytes } from '../observe/status-page.js';
import { parse, type Command } from './args.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:9464';

export const apiOptions = {
  config: { type: 'string', short: 'c' },
  url: { type: 'string', short: 'u' },
} as const;

/** --url, else observe.http of the config file (a wildcard listen address is reached on loopback). */
export function apiUrl(values: { config?: string; url?: string }): string {
  if (values.url) return values.url.replace(/\/+$/, '');
  if (!values.config) return DEFAULT_API_URL;
  const { listen, port } = loadConfigFile(values.config).observe.http;
  const host =
    listen === '0.0.0.0' || listen === '::' ? '127.0.0.1' : listen.includes(':') ? `[${listen}]` : listen;
  return `http://${host}:${port}`;
}

export async function fetchStatus(url: string, timeoutMs = 5000): Promise<StatusSnapshot> {
  let res: Response;
  try {
    res = await fetch(`${url}/api/status`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new SluiceError(
      'SLUICE_UPSTREAM_UNREACHABLE',
      `no gateway answers at ${url}: ${errorMessage(err)}`,
      {
        hint: 'is it running (`systemctl status sluice`)? pass -c CONFIG or --url http://HOST:PORT (observe.http)',
        cause: err,
      },
    );
  }
  if (!res.ok)
    throw new SluiceError('SLUICE_UPSTREAM_UNREACHABLE', `${url}/api/status answered ${res.status}`, {
      hint:
        res.status === 421
          ? `the gateway does not know itself as ${new URL(url).host}: add that name to its observe.http.allowed_hosts, or use its IP address`
          : 'is that a Sluice gateway? its status API is at /api/status',
    });
  return (await res.json()) as StatusSnapshot;
}

/** The summary, as lines of at most ~100 columns. */
export function formatStatus(s: StatusSnapshot, url: string): string[] {
  const q = s.queue;
  const total = (kind: string, id: string) => s.components.find((c) => c.kind === kind && c.id === id);
  const pct = q.maxBytes > 0 ? ((q.bytes / q.maxBytes) * 100).toFixed(1) : '0';
  const lines = [
    `gateway ${s.gateway}  up ${formatAge(s.now - s.startedAt)}  ${s.health.status === 'ok' ? 'healthy' : 'UNHEALTHY'}  (${url})`,
    ...s.health.reasons.map((r) => `  ! ${r}`),
    ...s.health.warnings.map((w) => `  - ${w}`),
    `queue   ${q.depth} readings, ${formatBytes(q.bytes)} of ${formatBytes(q.maxBytes)} (${pct}%), on full ${q.onFull}; dropped ${q.dropped}, dead letters ${q.deadLetters}`,
  ];
  if (s.health.disk)
    lines.push(
      `disk    ${formatBytes(s.health.disk.freeBytes)} free of ${formatBytes(s.health.disk.totalBytes)} (${s.health.disk.freePercent}%) in ${s.health.disk.path}`,
    );
  lines.push(...controlLines(s));
  lines.push('sources');
  for (const src of s.sources) {
    const rejected = Object.values(src.rejected).reduce((a, b) => a + b, 0);
    lines.push(
      `  ${src.name.padEnd(16)} ${src.type.padEnd(12)} ${src.health.state.padEnd(9)} in ${total('source', src.name)?.sentEvents ?? 0}  rejected ${rejected}${src.health.detail ? `  ${src.health.detail}` : ''}`,
    );
  }
  if (s.sources.length === 0) lines.push('  (none)');
  lines.push('sinks');
  for (const k of s.sinks) {
    const c = q.cursors.find((x) => x.name === k.sink);
    lines.push(
      `  ${k.sink.padEnd(16)} ${k.type.padEnd(12)} ${(k.connected ? k.health.state : 'down').padEnd(9)} out ${total('sink', k.sink)?.sentEvents ?? 0}  lag ${c?.lag ?? 0}  oldest ${formatAge(c?.oldestUnackedAgeMs)}  last ack ${k.lastAckAt === undefined ? '-' : `${formatAge(s.now - k.lastAckAt)} ago`}`,
    );
  }
  if (s.sinks.length === 0) lines.push('  (none)');
  const errors = s.errors.slice(-3).reverse();
  if (errors.length > 0) {
    lines.push('last errors');
    for (const e of errors)
      lines.push(
        `  ${formatAge(s.now - e.at)} ago  ${e.componentKind} ${e.componentId}  ${e.errorType} at ${e.stage}`,
      );
  }
  return lines;
}

/** The fleet channels and the last reload of the local file (absent from gateways before 0.2). */
export function controlLines(s: Pick<StatusSnapshot, 'control' | 'now'>): string[] {
  const c = s.control ?? null;
  if (!c) return [];
  const lines: string[] = [];
  for (const ch of c.channels) {
    const state =
      ch.state === 'connected'
        ? `connected${ch.connectedAt === null ? '' : ` for ${formatAge(s.now - ch.connectedAt)}`}`
        : `${ch.attempts === 0 ? 'CONNECTING' : `UNREACHABLE, ${ch.attempts} failed attempts`}${ch.nextRetryAt === null ? '' : `, next try in ${formatAge(ch.nextRetryAt - s.now)}`}`;
    const err =
      ch.lastError && ch.state !== 'connected'
        ? `  last error ${formatAge(s.now - ch.lastError.at)} ago: ${ch.lastError.message}`
        : '';
    lines.push(`fleet   ${ch.channel} ${ch.url}  ${state}${err}`);
  }
  const r = c.reload;
  if (r)
    lines.push(
      `reload  ${r.result === 'ok' ? 'ok' : `FAILED (${r.outcome}${r.reason ? `: ${r.reason}` : ''})`} ${formatAge(s.now - r.at)} ago${r.error ? `: ${r.error.replace(/:\s*\n\s*/, ': ').replace(/\s*\n\s*/g, '; ')}` : ''}`,
    );
  return lines;
}

export const statusCommand: Command = {
  name: 'status',
  usage: '[-c CONFIG | --url URL] [--json]',
  summary: 'One-screen summary of a running gateway (from its HTTP API on loopback).',
  help: `Reads GET /api/status. The address comes from --url, else observe.http of -c CONFIG, else ${DEFAULT_API_URL}.\nExit code 0 when healthy, 1 when unhealthy or not reachable.\n  --json   print the status document as JSON`,
  async run(args) {
    const usage = 'sluice status [-c CONFIG | --url URL] [--json]';
    const { values } = parse(args, { ...apiOptions, json: { type: 'boolean' } }, usage);
    const url = apiUrl(values);
    const s = await fetchStatus(url);
    process.stdout.write(
      values.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStatus(s, url).join('\n')}\n`,
    );
    return s.health.status === 'ok' ? 0 : 1;
  },
};
