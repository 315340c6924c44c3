// `npm run bench`: runs every benchmark in test/bench/ one after the other, each with SLUICE_BENCH_OUT set to
// the run's directory (bench-results/<time>/, `latest` links to it), so that each bench's record() lands
// there as <bench>.json beside its printed output (<bench>.log). A bench that fails is recorded as failed
// (exit code, the tail of its stderr) and the run goes on. At the end: results.json (every bench),
// results.md (tables of figures and goals) and SVG charts (charts.mjs).
//   node test/bench/run.mjs [--quick] [--only a,b] [--out bench-results] [--timeout-min 20] [--list]
//   node test/bench/run.mjs --readme README.md [--from bench-results/latest]
// --quick: tiny sizes, a smoke test of every bench and of this runner (minutes, figures meaningless).
// --readme: copies the chosen results (default: the committed docs/bench/) to docs/bench/, redraws its
// charts and rewrites the README's performance section from docs/bench/results.json; the bench-readme test
// fails when that section is not what docs/bench/results.json gives.
import { spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem, type } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as prettier from 'prettier';
import { writeCharts } from './charts.mjs';
import { readmeSection, replaceSection, resultsMarkdown } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
/** Where --readme publishes the chosen results: committed, and what the README section is made from. */
export const DOCS_DIR = join(root, 'docs', 'bench');

/**
 * Every bench, with the arguments of a full run (about 20-30 minutes on 2 cores in all) and of --quick.
 * `env`: extra environment; `node`: options for node itself.
 */
export const BENCHES = [
  { name: 'codec', full: ['200000'], quick: ['20000'] },
  { name: 'fsync-latency', full: [tmpdir(), '1000'], quick: [tmpdir(), '50'] },
  { name: 'queue-append', full: ['2'], quick: ['0.2'] },
  { name: 'queue-backlog', node: ['--expose-gc'], full: ['3000000'], quick: ['50000'] },
  { name: 'first-puback', full: ['--runs', '5'], quick: ['--runs', '1'] },
  {
    name: 'field-load',
    full: ['--runs', '2', '--seconds', '40', '--linger-ms', '0,2,5'],
    quick: [
      '--clients',
      '10',
      '--rate',
      '20',
      '--seconds',
      '2',
      '--warmup',
      '1',
      '--runs',
      '1',
      '--procs',
      '1',
    ],
  },
  {
    name: 'pi-profile',
    full: ['--runs', '2'],
    quick: ['--delays', '0,5', '--runs', '1', '--seconds', '1', '--warmup', '0.5'],
  },
  {
    name: 'mqtt-ingest',
    full: ['--shapes', '1x32,8x32,32x32,256x4', '--seconds', '4', '--runs', '2'],
    quick: ['--shapes', '1x8,8x8', '--seconds', '0.5', '--warmup', '0.2', '--runs', '1'],
  },
  {
    name: 'processors',
    full: ['--seconds', '4', '--rounds', '3', '--micro-readings', '200000'],
    quick: ['--seconds', '0.5', '--warmup', '0.2', '--rounds', '1', '--micro-readings', '5000'],
  },
  { name: 'hdfs-formats', full: ['200000', '5'], quick: ['5000', '1'] },
  { name: 'serial-ingest', full: ['200000', '3'], quick: ['5000', '1'] },
  { name: 'serial-chaos', full: ['60', '300'], quick: ['3', '50'] },
  { name: 'sql-import', full: ['200000', '3'], quick: ['5000', '1'] },
  {
    name: 'kafka-clients',
    full: ['100000', '2000', '2'],
    quick: ['5000', '1000', '1', 'none w1'],
    quickEnv: { KAFKA_BENCH_CLIENTS: 'kafkajs,kcat' },
  },
  { name: 'kafka-drain', full: ['300000'], quick: ['20000', '20000', '2000'] },
  { name: 'hdfs-drain', full: ['300000', '2'], quick: ['10000', '1'] },
];

/** Modules in test/bench/ that are not benches. */
const HELPERS = new Set(['charts', 'kafka-ts-hooks', 'proc-cpu', 'report', 'results', 'run']);

/** The list above, plus any bench file it does not name yet (run with its own defaults, never in --quick). */
export function benchList(quick) {
  const known = new Set(BENCHES.map((b) => b.name));
  const extra = readdirSync(here)
    .filter((f) => f.endsWith('.mjs') && !f.endsWith('.test.mjs'))
    .map((f) => basename(f, '.mjs'))
    .filter((n) => !known.has(n) && !HELPERS.has(n))
    .sort()
    .map((name) => ({
      name,
      full: [],
      ...(quick && { skip: 'not in run.mjs BENCHES yet, so it has no --quick arguments: add it there' }),
    }));
  return [...BENCHES, ...extra];
}

/** An error that is the caller's mistake: printed without a stack. */
const usage = (message) => Object.assign(new Error(message), { usage: true });

const stamp = () =>
  new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-');

function machine() {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
  };
}

/** Runs one bench; resolves with its entry for results.json. */
function runBench(bench, quick, out, timeoutMs) {
  const args = quick ? bench.quick : bench.full;
  const env = { ...(bench.env ?? {}), ...(quick ? (bench.quickEnv ?? {}) : {}) };
  const script = `test/bench/${bench.name}.mjs`;
  const shellArg = (a) => (/^[\w.,/=:-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);
  const command = [
    ...Object.entries(env).map(([k, v]) => `${k}=${shellArg(v)}`),
    'node',
    ...(bench.node ?? []),
    script,
    ...args.map(shellArg),
  ].join(' ');
  console.log(`\n=== ${bench.name}: ${command}`);
  const log = createWriteStream(join(out, `${bench.name}.log`));
  const started = performance.now();
  return new Promise((done) => {
    // Its own process group, so that a timeout ends the bench and everything it started (brokers, socat).
    const child = spawn(process.execPath, [...(bench.node ?? []), join(root, script), ...args], {
      cwd: root,
      env: { ...process.env, ...env, SLUICE_BENCH_OUT: out },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stderrTail = '';
    child.stdout.on('data', (d) => (process.stdout.write(d), log.write(d)));
    child.stderr.on('data', (d) => {
      process.stderr.write(d);
      log.write(d);
      stderrTail = (stderrTail + d).slice(-4000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`${bench.name}: no end after ${timeoutMs / 60000} min, stopping its process group`);
      killGroup(child.pid, 'SIGTERM');
      setTimeout(() => killGroup(child.pid, 'SIGKILL'), 10_000).unref();
    }, timeoutMs);
    const finish = (exitCode, signal, spawnError) => {
      clearTimeout(timer);
      // Anything of its group still there (a peer it failed to stop) is an orphan: it would skew the next bench.
      if (child.pid) killGroup(child.pid, 'SIGKILL');
      log.end();
      const file = join(out, `${bench.name}.json`);
      const result = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
      const status =
        exitCode === 0 && !timedOut ? (result ? 'ok' : 'no-record') : timedOut ? 'timeout' : 'failed';
      if (timedOut) stderrTail += `\n(stopped after ${timeoutMs / 60000} min)`;
      if (spawnError) stderrTail += `\n${spawnError.message}`;
      const seconds = Math.round((performance.now() - started) / 100) / 10;
      console.log(`=== ${bench.name}: ${status} in ${seconds} s`);
      done({
        name: bench.name,
        command,
        status,
        exitCode,
        ...(signal && { signal }),
        seconds,
        ...(status !== 'ok' && { stderrTail: stderrTail.slice(-1500) }),
        ...(result && { result }),
      });
    };
    child.on('error', (err) => finish(null, null, err));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if (err.code !== 'ESRCH') throw err; // ESRCH: already gone
  }
}

async function runAll(opts) {
  const quick = opts.quick;
  const only = opts.only?.split(',').filter(Boolean);
  const all = benchList(quick);
  const list = all.filter((b) => !only || only.includes(b.name));
  if (only) {
    const unknown = only.filter((n) => !list.some((b) => b.name === n));
    if (unknown.length) throw usage(`--only: no bench named ${unknown.join(', ')} (see --list)`);
  }
  const base = resolve(root, opts.out);
  const out = join(base, stamp());
  mkdirSync(out, { recursive: true });
  const latest = join(base, 'latest');
  rmSync(latest, { force: true, recursive: false });
  symlinkSync(basename(out), latest);
  console.log(`bench results: ${relative(root, out)} (also ${relative(root, latest)})`);
  const results = {
    startedAt: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    argv: process.argv.slice(2),
    node: process.version,
    machine: { ...machine(), loadavgStart: loadavg() },
    benches: [],
    notRun: all.filter((b) => !list.includes(b)).map((b) => b.name),
  };
  for (const bench of list) {
    if (bench.skip) {
      console.log(`\n=== ${bench.name}: skipped (${bench.skip})`);
      results.benches.push({
        name: bench.name,
        command: `node test/bench/${bench.name}.mjs`,
        status: 'skipped',
        reason: bench.skip,
      });
      continue;
    }
    results.benches.push(await runBench(bench, quick, out, Number(opts['timeout-min']) * 60_000));
  }
  results.finishedAt = new Date().toISOString();
  results.machine.loadavgEnd = loadavg();
  await finishResults(results, out);
  console.log(`\n${summary(results)}\nwritten: ${relative(root, out)}/results.json, results.md, charts`);
  return results;
}

/** Charts, results.json and results.md into `dir`. */
async function finishResults(results, dir) {
  results.charts = await writeCharts(results, dir);
  for (const c of results.charts.filter((x) => x.skipped))
    console.log(`chart skipped: ${c.title}: ${c.skipped}`);
  // Formatted as the project's Prettier would, so that a committed copy passes `npm run lint`.
  const json = join(dir, 'results.json');
  const options = { ...(await prettier.resolveConfig(json)), filepath: json };
  writeFileSync(json, await prettier.format(JSON.stringify(results), options));
  writeFileSync(join(dir, 'results.md'), resultsMarkdown(results, results.charts));
}

function summary(results) {
  const by = (s) => results.benches.filter((b) => b.status === s).map((b) => b.name);
  const goals = results.benches.flatMap((b) => b.result?.goals ?? []);
  return [
    `benches ok: ${by('ok').join(', ') || 'none'}`,
    ...['failed', 'timeout', 'no-record', 'skipped']
      .filter((s) => by(s).length)
      .map((s) => `${s}: ${by(s).join(', ')}`),
    `goals: ${goals.filter((g) => g.met).length} of ${goals.length} met`,
  ].join('\n');
}

/** --readme: publish `from` to docs/bench (unless it is docs/bench) and rewrite the README's section. */
async function readme(file, from) {
  const src = resolve(root, from);
  const json = existsSync(join(src, 'results.json')) ? join(src, 'results.json') : src;
  if (!existsSync(json)) throw usage(`--from ${from}: no results.json there (run npm run bench first)`);
  const results = JSON.parse(readFileSync(json, 'utf8'));
  mkdirSync(DOCS_DIR, { recursive: true });
  for (const f of readdirSync(DOCS_DIR).filter((x) => x.endsWith('.svg'))) rmSync(join(DOCS_DIR, f));
  await finishResults(results, DOCS_DIR);
  const text = readFileSync(file, 'utf8');
  const next = replaceSection(text, readmeSection(results, relative(dirname(resolve(file)), DOCS_DIR)), file);
  if (next !== text) writeFileSync(file, next);
  console.log(
    `${file}: performance section ${next === text ? 'already up to date' : 'updated'} from ${relative(root, json)} (published to ${relative(root, DOCS_DIR)}/)`,
  );
}

async function main() {
  const { values: opts } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string', default: 'bench-results' },
      'timeout-min': { type: 'string', default: '20' },
      list: { type: 'boolean', default: false },
      readme: { type: 'string' },
      from: { type: 'string' },
    },
  });
  if (opts.list) {
    for (const b of benchList(opts.quick))
      console.log(`${b.name.padEnd(16)} ${b.skip ?? (opts.quick ? b.quick : b.full).join(' ')}`);
    return;
  }
  if (opts.readme) return readme(opts.readme, opts.from ?? relative(root, DOCS_DIR));
  if (opts.from) throw usage('--from goes with --readme');
  const results = await runAll(opts);
  // Failed benches are in the results; the run itself failed only when nothing could be measured.
  if (!results.benches.some((b) => b.status === 'ok')) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (err) {
    // A usage mistake or a missing file: say what, without a stack trace; the rest keeps its stack.
    console.error(`run.mjs: ${err.code === 'ENOENT' || err.usage ? err.message : err.stack}`);
    process.exitCode = 2;
  }
}
