// What a benchmark measured, in one shape every bench writes, so `npm run bench` can collect the runs into
// JSON, a Markdown table, charts and the README's performance section. A bench still prints its figures
// and goals for a person; `record()` also writes them as JSON when SLUICE_BENCH_OUT names a directory
// (the runner sets it), and does nothing otherwise.
//
//   import { goal, record } from './results.mjs';
//   const g = goal('drain >= 0.9x bare producer', ratio, '>=', 0.9);   // prints "goal: ...: 0.93 MET"
//   record('kafka-drain', { figures: [{ key: 'sluice_rps', label: 'Sluice drain', value, unit: 'readings/s',
//     runs: [..] }], goals: [g], series: { rss: [{ x: seconds, y: mib }] } });
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

/** The 1, 5 and 15 minute load averages as text ("0.52 0.61 0.70"), for a bench's report of its machine. */
export function loadText() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** Median of a list of numbers (NaN for none). */
export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** [min, max] of a list of numbers. */
export function range(xs) {
  const s = xs.filter((x) => Number.isFinite(x));
  return s.length === 0 ? [Number.NaN, Number.NaN] : [Math.min(...s), Math.max(...s)];
}

/** A figure from several runs: the median as its value, the runs and their range kept. */
export function figure(key, label, runs, unit) {
  const list = Array.isArray(runs) ? runs : [runs];
  return { key, label, value: median(list), unit, runs: list, range: range(list) };
}

/**
 * One goal: `value op target`, printed as `goal: <label>: <value> MET|NOT MET` and returned for record().
 * `digits` only changes what is printed.
 */
export function goal(label, value, op, target, digits = 2) {
  const met = Number.isFinite(value) && (op === '>=' ? value >= target : value <= target);
  console.log(
    `goal: ${label}: ${Number.isFinite(value) ? value.toFixed(digits) : 'n/a'} ${met ? 'MET' : 'NOT MET'}`,
  );
  return { label, value, op, target, met };
}

/**
 * Writes `<SLUICE_BENCH_OUT>/<bench>.json` (no-op without the variable): the bench's figures, goals and
 * optional series (for charts: `{ name: [{ x, y }] }`) and notes, with the command and machine it ran on.
 */
export function record(bench, { figures = [], goals = [], series = {}, notes = [], params = {} } = {}) {
  const dir = process.env.SLUICE_BENCH_OUT;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  const out = {
    bench,
    command: ['node', ...process.argv.slice(1).map((a, i) => (i === 0 ? relativeScript(a) : a))].join(' '),
    finishedAt: new Date().toISOString(),
    node: process.version,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', loadavg: loadavg() },
    params,
    figures,
    goals,
    series,
    notes,
  };
  writeFileSync(join(dir, `${bench}.json`), `${JSON.stringify(out, null, 2)}\n`);
}

function relativeScript(path) {
  const i = path.lastIndexOf('test/bench/');
  return i >= 0 ? path.slice(i) : path;
}
