// The local status page: one self-contained HTML document (inline CSS and SVG, no scripts, no external
// assets) with sources, sinks, their processors, the queue-depth chart over the kept history and the last errors.
import type { GatewayStatus } from '../status.js';
import type { HealthReport } from './health.js';
import type { Sample } from './history.js';
import type { ComponentTotals, ErrorEvent, ProcessorTotals } from './metrics.js';

export interface PageData {
  readonly now: number;
  readonly status: GatewayStatus;
  readonly health: HealthReport;
  readonly totals: readonly ComponentTotals[];
  readonly processors?: readonly ProcessorTotals[];
  readonly errors: readonly ErrorEvent[];
  readonly history: readonly Sample[];
  /** The time the history can cover (samples x interval): the chart's x axis. */
  readonly windowMs: number;
  readonly refreshSeconds: number;
}

/** Counts by reason, largest first: `in_band 40, filtered 3` (`-` when there are none). */
export function formatReasons(counts: Readonly<Record<string, number>>): string {
  const parts = Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${n}`);
  return parts.length > 0 ? parts.join(', ') : '-';
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i] ?? 'B'}`;
}

export function formatAge(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.round(s / 86_400)}d`;
}

const W = 720;
const H = 180;
const PAD = { left: 56, right: 12, top: 12, bottom: 26 };

/** Queue depth over the history window as an inline SVG line chart (y: readings, x: time before now). */
export function depthChart(samples: readonly Sample[], now: number, windowMs: number): string {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const span = Math.max(1000, windowMs);
  const max = Math.max(1, ...samples.map((s) => s.depth));
  const x = (t: number): number => PAD.left + plotW * Math.max(0, 1 - (now - t) / span);
  const y = (d: number): number => PAD.top + plotH * (1 - d / max);
  const pts = samples.map((s) => `${x(s.t).toFixed(1)},${y(s.depth).toFixed(1)}`).join(' ');
  const last = samples[samples.length - 1];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" id="depth-chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="queue depth over the last ${formatAge(span)}">`,
    `<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#ccc"/>`,
    ...[0, 0.5, 1].map((f) => {
      const yy = PAD.top + plotH * (1 - f);
      return `<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${yy}" y2="${yy}" stroke="#e3e3e3"/><text x="${PAD.left - 6}" y="${yy + 4}" text-anchor="end" font-size="11">${Math.round(max * f)}</text>`;
    }),
    `<text x="${PAD.left}" y="${H - 6}" font-size="11">-${formatAge(span)}</text>`,
    `<text x="${PAD.left + plotW}" y="${H - 6}" font-size="11" text-anchor="end">now</text>`,
  ];
  if (samples.length > 1)
    parts.push(`<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="${pts}"/>`);
  if (last)
    parts.push(
      `<circle cx="${x(last.t).toFixed(1)}" cy="${y(last.depth).toFixed(1)}" r="3" fill="#1f6feb"/>`,
    );
  else
    parts.push(
      `<text x="${PAD.left + plotW / 2}" y="${PAD.top + plotH / 2}" text-anchor="middle" font-size="12">no samples yet</text>`,
    );
  parts.push('</svg>');
  return parts.join('');
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;max-width:960px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eee}
th{background:#f3f3f3}.ok{color:#176f2c;font-weight:600}.fail{color:#b42318;font-weight:600}
.warn{color:#9a6700}.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777}`;

function stateClass(state: string): string {
  if (state === 'healthy' || state === 'ok') return 'ok';
  if (state === 'degraded' || state === 'starting') return 'warn';
  return 'fail';
}

function table(head: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `<p class="muted">${escapeHtml(empty)}</p>`;
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}

export function renderStatusPage(d: PageData): string {
  const { status: st, health, now } = d;
  const e = escapeHtml;
  const total = (kind: string, id: string): ComponentTotals | undefined =>
    d.totals.find((t) => t.kind === kind && t.id === id);
  const q = st.queue;
  const sources = st.sources.map((s) => [
    e(s.name),
    e(s.type),
    `<span class="${stateClass(s.health.state)}">${e(s.health.state)}</span>`,
    `<span class="num">${total('source', s.name)?.sentEvents ?? 0}</span>`,
    `<span class="num">${Object.values(s.rejected).reduce((a, b) => a + b, 0)}</span>`,
    e(s.health.detail ?? ''),
  ]);
  const sinks = st.sinks.map((s) => {
    const c = q.cursors.find((x) => x.name === s.sink);
    return [
      e(s.sink),
      e(s.type),
      `<span class="${stateClass(s.health.state)}">${e(s.health.state)}</span>${s.connected ? '' : ' <span class="muted">(not connected)</span>'}`,
      `<span class="num">${c?.lag ?? 0}</span>`,
      formatAge(c?.oldestUnackedAgeMs),
      s.lastAckAt === undefined ? '-' : `${formatAge(now - s.lastAckAt)} ago`,
      `<span class="num">${total('sink', s.sink)?.sentEvents ?? 0}</span>`,
      e(s.health.detail ?? ''),
    ];
  });
  const processors = (d.processors ?? []).map((p) => [
    e(`${p.kind} ${p.component}`),
    e(p.processor),
    e(p.type),
    `<span class="num">${p.in}</span>`,
    `<span class="num">${p.out}</span>`,
    e(formatReasons(p.dropped)),
    e(formatReasons(p.errors)),
  ]);
  const lastErrors = [
    ...st.sources.map((s) => ({ name: `source ${s.name}`, err: s.health.lastError })),
    ...st.sinks.map((s) => ({ name: `sink ${s.sink}`, err: s.lastError ?? s.health.lastError })),
  ]
    .flatMap(({ name, err }) => (err ? [{ at: err.at, who: name, code: err.code, text: err.message }] : []))
    .concat(
      d.errors.map((x) => ({
        at: x.at,
        who: `${x.componentKind} ${x.componentId}`,
        code: x.errorType,
        text: `at stage ${x.stage}`,
      })),
    )
    .sort((a, b) => b.at - a.at)
    .slice(0, 10)
    .map((x) => [`${formatAge(now - x.at)} ago`, e(x.who), e(x.code), e(x.text)]);
  const healthLine =
    health.status === 'ok'
      ? '<span class="ok">healthy</span>'
      : `<span class="fail">unhealthy</span>: ${health.reasons.map(e).join('; ')}`;
  const control = st.control ?? null;
  const channels = (control?.channels ?? []).map((ch) => [
    e(ch.channel),
    e(ch.url),
    `<span class="${ch.state === 'connected' ? 'ok' : 'warn'}">${e(ch.state)}</span>`,
    `<span class="num">${ch.attempts}</span>`,
    ch.lastError ? `${formatAge(now - ch.lastError.at)} ago: ${e(ch.lastError.message)}` : '-',
  ]);
  const reload = control?.reload ?? null;
  const reloadLine = reload
    ? `<p id="reload">last reload of the local file: <span class="${reload.result === 'ok' ? 'ok' : 'fail'}">${reload.result === 'ok' ? 'ok' : `failed (${e(reload.outcome)}${reload.reason ? `: ${e(reload.reason)}` : ''})`}</span> ${formatAge(now - reload.at)} ago${reload.error ? `: ${e(reload.error)}` : ''}</p>`
    : '';
  const controlHtml =
    channels.length > 0 || reloadLine
      ? `<h2>Config channels</h2>\n${channels.length > 0 ? table(['channel', 'url', 'state', 'failed attempts', 'last error'], channels, '') : ''}${reloadLine}\n`
      : '';
  const warnings = health.warnings.map((w) => `<li class="warn">${e(w)}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${d.refreshSeconds}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sluice ${e(st.gateway)}</title><style>${STYLE}</style></head>
<body>
<h1>Sluice gateway <span id="gateway-id">${e(st.gateway)}</span></h1>
<p>up ${formatAge(now - st.startedAt)} · <span id="health">${healthLine}</span> · updated ${new Date(now).toISOString()}</p>
${warnings ? `<ul>${warnings}</ul>` : ''}
<h2>Queue</h2>
<p id="queue"><span class="num">${q.depth}</span> readings, ${formatBytes(q.bytes)} of ${formatBytes(q.maxBytes)} (on full: ${e(q.onFull)}) · dropped ${q.dropped} · dead letters ${q.deadLetters}${health.disk ? ` · disk ${formatBytes(health.disk.freeBytes)} free (${health.disk.freePercent}%)` : ''}</p>
<h2>Queue depth, last ${formatAge(d.windowMs)}</h2>
${depthChart(d.history, now, d.windowMs)}
<h2>Sources</h2>
${table(['name', 'type', 'state', 'readings in', 'rejected', 'detail'], sources, 'no sources configured')}
<h2>Sinks</h2>
${table(['name', 'type', 'state', 'lag', 'oldest unacked', 'last ack', 'readings out', 'detail'], sinks, 'no sinks configured')}
${processors.length > 0 ? `<h2>Processors</h2>\n${table(['chain of', 'processor', 'type', 'in', 'out', 'dropped', 'errors'], processors, '')}\n` : ''}${controlHtml}<h2>Last errors</h2>
${table(['when', 'component', 'code', 'message'], lastErrors, 'no errors since start')}
</body></html>
`;
}
