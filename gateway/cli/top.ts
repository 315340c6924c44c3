// `sluice top`: a live terminal view of a running gateway (like `vector top`): readings per second in and
// out of every source and sink, queue depth and per-sink lag, redrawn in place with plain ANSI escapes.
// q (or Ctrl-C) quits and restores the terminal.
import { errorMessage } from '../errors.js';
import type { StatusSnapshot } from '../observe/http-server.js';
import { formatAge, formatBytes, formatReasons } from '../observe/status-page.js';
import { parse, type Command } from './args.js';
import { apiOptions, apiUrl, fetchStatus } from './status.js';

const ESC = '\x1b[';
const ENTER = `${ESC}?1049h${ESC}?25l`; // alternate screen, hide cursor
const LEAVE = `${ESC}?25h${ESC}?1049l`;

function rate(cur: number, prev: number | undefined, seconds: number): string {
  if (prev === undefined || seconds <= 0) return '-';
  const r = Math.max(0, cur - prev) / seconds;
  return r >= 100 ? Math.round(r).toString() : r.toFixed(1);
}

/** One frame: the lines to draw, given the previous snapshot (for rates) or none on the first frame. */
export function renderTop(
  cur: StatusSnapshot | undefined,
  prev: StatusSnapshot | undefined,
  url: string,
  problem?: string,
): string[] {
  const head = `sluice top - ${url} - q quits`;
  if (!cur) return [head, '', problem ? `waiting for the gateway: ${problem}` : 'connecting...'];
  const secs = prev ? (cur.now - prev.now) / 1000 : 0;
  const q = cur.queue;
  const lines = [
    head,
    `gateway ${cur.gateway}  up ${formatAge(cur.now - cur.startedAt)}  ${cur.health.status === 'ok' ? 'healthy' : `UNHEALTHY: ${cur.health.reasons.join('; ')}`}`,
    `queue ${q.depth} readings  ${formatBytes(q.bytes)} / ${formatBytes(q.maxBytes)}  dropped ${q.dropped}  dead letters ${q.deadLetters}${problem ? `  (last poll failed: ${problem})` : ''}`,
    '',
    `${'KIND'.padEnd(7)}${'NAME'.padEnd(18)}${'TYPE'.padEnd(13)}${'STATE'.padEnd(10)}${'IN/s'.padStart(9)}${'OUT/s'.padStart(9)}${'OUT TOTAL'.padStart(11)}${'ERRORS'.padStart(8)}${'LAG'.padStart(9)}  OLDEST`,
  ];
  const row = (kind: 'source' | 'sink', name: string, type: string, state: string, tail: string): string => {
    const c = cur.components.find((x) => x.kind === kind && x.id === name);
    const p = prev?.components.find((x) => x.kind === kind && x.id === name);
    return `${kind.padEnd(7)}${name.slice(0, 17).padEnd(18)}${type.slice(0, 12).padEnd(13)}${state.slice(0, 9).padEnd(10)}${rate(c?.receivedEvents ?? 0, p?.receivedEvents, secs).padStart(9)}${rate(c?.sentEvents ?? 0, p?.sentEvents, secs).padStart(9)}${String(c?.sentEvents ?? 0).padStart(11)}${String(c?.errors ?? 0).padStart(8)}${tail}`;
  };
  for (const s of cur.sources) lines.push(row('source', s.name, s.type, s.health.state, ''));
  for (const k of cur.sinks) {
    const c = q.cursors.find((x) => x.name === k.sink);
    const tail = `${String(c?.lag ?? 0).padStart(9)}  ${formatAge(c?.oldestUnackedAgeMs)}`;
    lines.push(row('sink', k.sink, k.type, k.connected ? k.health.state : 'down', tail));
  }
  const procs = cur.processors ?? [];
  if (procs.length > 0) {
    lines.push(
      '',
      `${'CHAIN OF'.padEnd(25)}${'PROCESSOR'.padEnd(18)}${'IN/s'.padStart(9)}${'OUT/s'.padStart(9)}  DROPPED / ERRORS`,
    );
    for (const p of procs) {
      const was = prev?.processors?.find(
        (x) => x.kind === p.kind && x.component === p.component && x.processor === p.processor,
      );
      lines.push(
        `${`${p.kind} ${p.component}`.slice(0, 24).padEnd(25)}${p.processor.slice(0, 17).padEnd(18)}${rate(p.in, was?.in, secs).padStart(9)}${rate(p.out, was?.out, secs).padStart(9)}  ${formatReasons(p.dropped)} / ${formatReasons(p.errors)}`,
      );
    }
  }
  return lines;
}

export const topCommand: Command = {
  name: 'top',
  usage: '[-c CONFIG | --url URL] [--interval-ms N]',
  summary: 'Live view of readings/s per source and sink, queue depth and lag (q quits).',
  help: 'Polls GET /api/status every --interval-ms (default 1000) and redraws in place; the address is found as for `sluice status`.',
  async run(args) {
    const usage = 'sluice top [-c CONFIG | --url URL] [--interval-ms N]';
    const { values } = parse(args, { ...apiOptions, 'interval-ms': { type: 'string' } }, usage);
    const url = apiUrl(values);
    const intervalMs = Math.max(100, Number(values['interval-ms'] ?? 1000) || 1000);
    const out = process.stdout;
    const stdin = process.stdin;
    let prev: StatusSnapshot | undefined;
    let cur: StatusSnapshot | undefined;
    let timer: NodeJS.Timeout | undefined;
    let running = true;
    let done = (): void => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));

    const draw = (problem?: string): void => {
      const width = out.columns || 120;
      const lines = renderTop(cur, prev, url, problem).map((l) => l.slice(0, width));
      out.write(`${ESC}H${lines.map((l) => `${l}${ESC}K`).join('\n')}\n${ESC}J`);
    };
    const poll = async (): Promise<void> => {
      let problem: string | undefined;
      try {
        const next = await fetchStatus(url, Math.max(1000, intervalMs));
        prev = cur;
        cur = next;
      } catch (err) {
        problem = errorMessage(err);
      }
      if (!running) return; // quit while the request was in flight: the screen is already restored
      draw(problem);
      timer = setTimeout(() => void poll(), intervalMs);
    };
    const onKey = (data: Buffer): void => {
      const key = data.toString();
      if (key === 'q' || key === 'Q' || key === '\x03') quit();
    };
    const quit = (): void => {
      running = false;
      clearTimeout(timer);
      done();
    };

    out.write(ENTER);
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
    process.on('SIGINT', quit);
    process.on('SIGTERM', quit);
    try {
      await poll();
      await finished;
    } finally {
      clearTimeout(timer);
      stdin.off('data', onKey);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      process.off('SIGINT', quit);
      process.off('SIGTERM', quit);
      out.write(LEAVE);
    }
    return 0;
  },
};
