// `sluice fleet status`: a table of every gateway that published a status on the fleet broker.
import { parse, type Command } from '../args.js';
import { BROKER_HELP, FleetView, type GatewaySeen } from './broker.js';
import { brokerOptions } from './broker.js';

const COLUMNS = ['GATEWAY', 'VERSION', 'STATE', 'HEALTH', 'QUEUE LAG', 'LAST SEEN', 'LAST RESULT'] as const;

export function statusRows(gateways: ReadonlyMap<string, GatewaySeen>, now: number): string[][] {
  return [...gateways]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([id, g]) => {
      const s = g.status;
      const r = s?.last_result;
      return [
        id,
        s ? String(s.applied_version) : '-',
        g.online === false ? 'offline' : (s?.state ?? '-'),
        s ? s.health.state : '-',
        s ? String(s.queue.lag) : '-',
        s ? `${Math.max(0, Math.round((now - s.at_ms) / 1000))}s ago` : '-',
        `${r ? `v${r.version} ${r.outcome}${r.reason ? ` (${r.reason})` : ''}` : '-'}${skippedText(s?.skipped_versions)}`,
      ];
    });
}

/** `; skipped v2-v49, v51`: versions a newer bundle superseded (gateways before 0.2 do not send them). */
export function skippedText(versions: readonly number[] | undefined): string {
  if (!versions || versions.length === 0) return '';
  const sorted = [...versions].sort((a, b) => a - b);
  const runs: string[] = [];
  let start = sorted[0] ?? 0;
  let prev = start;
  for (const v of [...sorted.slice(1), Number.NaN]) {
    if (v === prev + 1) {
      prev = v;
      continue;
    }
    runs.push(start === prev ? `v${start}` : `v${start}-v${prev}`);
    start = v;
    prev = v;
  }
  return `; skipped ${runs.join(', ')}`;
}

export function formatTable(rows: readonly (readonly string[])[]): string {
  const all = [COLUMNS as readonly string[], ...rows];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export const fleetStatusCommand: Command = {
  name: 'fleet status',
  usage: '--broker URL [--wait-ms MS] [--json]',
  summary: 'Show every gateway seen on the fleet broker: version, state, health, queue lag, last seen.',
  help: `  --wait-ms MS   how long to collect retained statuses (default 1000)
  --json         print the statuses as JSON
${BROKER_HELP}`,
  async run(args) {
    const usage = 'sluice fleet status --broker URL';
    const { values } = parse(
      args,
      { ...brokerOptions, 'wait-ms': { type: 'string' }, json: { type: 'boolean' } },
      usage,
    );
    const view = await FleetView.connect(values);
    try {
      await view.settle(Number(values['wait-ms'] ?? 1000));
      if (values.json) {
        const out = Object.fromEntries([...view.gateways].map(([id, g]) => [id, g]));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } else if (view.gateways.size === 0) process.stdout.write('no gateway has reported on this broker\n');
      else process.stdout.write(`${formatTable(statusRows(view.gateways, Date.now()))}\n`);
      return 0;
    } finally {
      await view.close();
    }
  },
};
