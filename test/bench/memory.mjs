// Memory of the gateway (issue 21).
// (a) Idle: the `npm start` demo (deploy/config/demo.yaml: simulator -> queue -> file sink) after it settles,
//     beside bare `node` measured in the same run: RSS split into RssAnon / RssFile / RssShmem
//     (/proc/PID/status) and the V8 heap from the gateway's own /metrics; once per Node flag set (--flags),
//     plus one run that lists which packages the demo loaded at start (an ESM loader hook; not measured).
// (b) Backlog: the upstream is down (a Kafka sink pointing at a closed loopback port, which the sink retries
//     with backoff), readings are appended through the queue API in the gateway process, durably (fsync),
//     2,000 a commit, until the backlog holds --readings (default 2 M; the figure is 10 M); RssAnon
//     is sampled as the backlog grows (series backlog vs RSS). The queue API rather than MQTT: MQTT ingest
//     runs at ~10-20 k readings/s on this 2-core machine (test/bench/mqtt-ingest.mjs), 10 M would take 10+
//     minutes; what grows with the backlog is the queue and the sink, not the MQTT path.
// Run: npm run build && node test/bench/memory.mjs [--runs 3] [--settle 15] [--readings 2000000]
//      [--flags ';--max-semi-space-size=1'] [--dist dist] [--only idle|backlog]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, uptime } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../helpers/net.mjs';
import { mib, procMemory } from './proc-mem.mjs';
import { figure, goal, loadText, median, range, record } from './results.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    settle: { type: 'string', default: '15' },
    readings: { type: 'string', default: '2000000' },
    // Node flag sets to measure the demo under, separated by ';' (the empty set is plain `node`).
    flags: { type: 'string', default: ';--max-semi-space-size=1' },
    dist: { type: 'string', default: join(root, 'dist') },
    only: { type: 'string' },
    serve: { type: 'string' },
    dir: { type: 'string' },
    port: { type: 'string' },
  },
});

if (opts.serve === 'backlog') await serveBacklog();
else await main();

async function main() {
  const figures = [];
  const goals = [];
  const notes = [];
  const series = {};
  const load0 = loadText();
  if (opts.only !== 'backlog') await idle(figures, goals, notes);
  if (opts.only !== 'idle') {
    const flagSets = opts.flags.split(';').map((f) => f.trim());
    for (const flags of [...new Set([flagSets[0], flagSets.at(-1)])]) {
      await backlog(flags, figures, goals, notes, series);
    }
  }
  const load1 = loadText();
  console.log(`load average: ${load0} at start, ${load1} at end (machine up ${Math.round(uptime())} s)`);
  record('memory', {
    figures,
    goals,
    series,
    notes,
    params: { runs: opts.runs, settle_s: opts.settle, readings: opts.readings, flags: opts.flags },
  });
}

// ---------------------------------------------------------------------------------------------- idle ---

/** The demo config with its paths under `dir` and the HTTP endpoint on a free port. */
function demoConfig(dir, port) {
  const c = parseYaml(readFileSync(join(root, 'deploy/config/demo.yaml'), 'utf8'));
  c.gateway.data_dir = join(dir, 'demo');
  c.sinks.local.path = join(dir, 'demo/out');
  c.observe = { http: { port } };
  const file = join(dir, 'demo.yaml');
  writeFileSync(file, JSON.stringify(c)); // JSON is YAML
  return file;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Spawns a process, waits `settleMs`, samples its memory (and `probe()` while it runs), kills it. */
async function measureIdle(args, settleMs, probe, env = process.env) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => child.once('exit', r));
  await Promise.race([sleep(settleMs), exited]);
  if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited early:\n${out}`);
  const mem = procMemory(child.pid);
  const extra = probe ? await probe() : {};
  child.kill('SIGTERM');
  await exited;
  return { ...mem, ...extra, out };
}

/** The V8 heap as the gateway's /metrics reports it (prom-client default metrics). */
async function heapFromMetrics(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (re) => Number(re.exec(text)?.[1] ?? Number.NaN);
  return {
    heapUsed: value(/^nodejs_heap_size_used_bytes\{[^}]*\} (\S+)/m),
    heapTotal: value(/^nodejs_heap_size_total_bytes\{[^}]*\} (\S+)/m),
    external: value(/^nodejs_external_memory_bytes\{[^}]*\} (\S+)/m),
  };
}

async function idle(figures, goals, notes) {
  const runs = Number(opts.runs);
  const settleMs = Number(opts.settle) * 1000;
  const main = join(opts.dist, 'gateway/cli/main.js');
  const flagSets = opts.flags.split(';').map((s) => s.trim());
  const rows = [];
  const bare = [];
  const byFlags = new Map(flagSets.map((f) => [f, []]));
  // Interleaved (bare, each flag set, bare, ...) so that a change in the machine's load hits all alike.
  for (let r = 0; r < runs; r++) {
    bare.push(await measureIdle(['-e', 'setInterval(() => {}, 1000)'], settleMs));
    for (const flags of flagSets) {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-mem-'));
      try {
        const port = await freePort();
        const cfg = demoConfig(dir, port);
        const args = [...(flags ? flags.split(/\s+/) : []), main, 'run', '-c', cfg];
        byFlags.get(flags).push(await measureIdle(args, settleMs, () => heapFromMetrics(port)));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const show = (label, list) => {
    const m = (k) => median(list.map((x) => x[k]));
    const [lo, hi] = range(list.map((x) => x.rss));
    const heap = Number.isFinite(m('heapUsed'))
      ? `, V8 heap used ${mib(m('heapUsed'))} of ${mib(m('heapTotal'))}, external ${mib(m('external'))}`
      : '';
    console.log(
      `${label.padEnd(44)} RSS ${mib(m('rss'))} MiB (${mib(lo)}-${mib(hi)}): anon ${mib(m('anon'))}, file ${mib(m('file'))}, shmem ${mib(m('shmem'))}${heap}`,
    );
    rows.push({ label, rss: m('rss'), anon: m('anon') });
  };
  console.log(`\nidle RSS after ${opts.settle} s, median of ${runs} (range), MiB`);
  show('bare node -e (reference)', bare);
  const toMiB = (list, k) => list.map((x) => x[k] / 1024 / 1024);
  figures.push(figure('bare_node_rss', 'bare node idle RSS', toMiB(bare, 'rss'), 'MiB'));
  for (const [flags, list] of byFlags) {
    const label = `demo, node ${flags || '(no flags)'}`;
    show(label, list);
    const key = flags ? flags.replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, '') : 'default';
    figures.push(figure(`demo_rss_${key}`, `${label}: idle RSS`, toMiB(list, 'rss'), 'MiB'));
    figures.push(figure(`demo_anon_${key}`, `${label}: idle RssAnon`, toMiB(list, 'anon'), 'MiB'));
    figures.push(figure(`demo_heap_${key}`, `${label}: V8 heap used`, toMiB(list, 'heapUsed'), 'MiB'));
  }
  const base = byFlags.get(flagSets[0]);
  const rss = median(base.map((x) => x.rss)) / 1024 / 1024;
  const overBare = rss - median(bare.map((x) => x.rss)) / 1024 / 1024;
  console.log(`demo over bare node: ${overBare.toFixed(1)} MiB`);
  goals.push(goal(`demo idle RSS (node ${flagSets[0] || 'without flags'}) <= 60 MiB`, rss, '<=', 60, 1));
  if (flagSets.length > 1) {
    const last = flagSets.at(-1);
    const v = median(byFlags.get(last).map((x) => x.rss)) / 1024 / 1024;
    goals.push(goal(`demo idle RSS (node ${last}) <= 60 MiB`, v, '<=', 60, 1));
  }
  notes.push(...(await loadedPackages(main)));
}

/** One more demo run with an ESM loader hook that lists the modules loaded by the time it settled. */
async function loadedPackages(main) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-mem-'));
  try {
    const log = join(dir, 'modules.txt');
    writeFileSync(log, '');
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n` +
        `  appendFileSync(${JSON.stringify(log)}, url + '\\n');\n  return next(url, context);\n}\n`,
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`,
    );
    const port = await freePort();
    const cfg = demoConfig(dir, port);
    await measureIdle(['--import', join(dir, 'register.mjs'), main, 'run', '-c', cfg], 8000);
    const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const packages = new Map();
    for (const u of urls) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
      if (m) packages.set(m[1], (packages.get(m[1]) ?? 0) + 1);
    }
    const own = urls.filter((u) => u.includes('/dist/')).length;
    const list = [...packages].sort((a, b) => b[1] - a[1]).map(([p, n]) => `${p} (${n})`);
    const line = `demo loaded ${own} Sluice modules and ESM modules of ${packages.size} packages (CommonJS requires inside them are not listed): ${list.join(', ')}`;
    console.log(line);
    return [line];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- backlog ---

async function backlog(flags, figures, goals, notes, series) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-mem-backlog-'));
  const port = await freePort(); // nobody listens on it: the Kafka upstream is down
  const label = `node ${flags || '(no flags)'}`;
  const key = flags ? flags.replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, '') : 'default';
  console.log(`\nbacklog with the upstream down, ${label}`);
  const child = spawn(
    process.execPath,
    [
      ...(flags ? flags.split(/\s+/) : []),
      '--expose-gc',
      fileURLToPath(import.meta.url),
      ...['--serve', 'backlog', '--dir', dir, '--port', String(port)],
      ...['--readings', opts.readings, '--dist', opts.dist],
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: process.env },
  );
  const samples = [];
  let final;
  try {
    await new Promise((resolve, reject) => {
      child.on('message', (m) => {
        if (m.sample) {
          samples.push(m.sample);
          if (samples.length % 5 === 1 || m.sample.backlog === Number(opts.readings)) {
            const s = m.sample;
            console.log(
              `  backlog ${s.backlog.toLocaleString('en-US').padStart(11)}: RSS ${mib(s.rss)} MiB, anon ${mib(s.anon)}, file ${mib(s.file)}, heap used ${mib(s.heapUsed)}, ${Math.round(s.rate).toLocaleString('en-US')} readings/s`,
            );
          }
        }
        if (m.done) {
          final = m.done;
          resolve();
        }
      });
      child.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`backlog child exited ${code}`)),
      );
    });
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  if (!final || samples.length < 2) throw new Error('backlog child sent no samples');
  const first = samples[0];
  const last = samples.at(-1);
  const growth = (last.anon - first.anon) / 1024 / 1024;
  const growthAfterGc = (final.anon - first.anon) / 1024 / 1024;
  const peak = Math.max(...samples.map((s) => s.anon));
  // After the first tenth: the young generation and the JIT have grown to their working size by then.
  const warm = samples[Math.min(samples.length - 1, Math.ceil(samples.length / 10))];
  const slope = ((last.anon - warm.anon) / 1024 / 1024 / (last.backlog - warm.backlog)) * 1e6;
  console.log(
    `backlog 0 -> ${last.backlog.toLocaleString('en-US')} readings (${mib(final.queueBytes)} MiB encoded, ${final.encodedPerReading.toFixed(0)} B each), upstream down: RssAnon ${mib(first.anon)} -> ${mib(last.anon)} MiB (peak ${mib(peak)}; ${mib(final.anon)} after a full GC); RssFile ${mib(first.file)} -> ${mib(last.file)} MiB (mapped LMDB pages, reclaimable)`,
  );
  console.log(
    `after the first tenth (backlog ${warm.backlog.toLocaleString('en-US')}): RssAnon grows ${slope.toFixed(2)} MiB per million readings`,
  );
  console.log(`sink health while down: ${final.sinkHealth}`);
  series[`backlog_rss_anon_mib_${key}`] = samples.map((s) => ({ x: s.backlog, y: s.anon / 1024 / 1024 }));
  series[`backlog_rss_mib_${key}`] = samples.map((s) => ({ x: s.backlog, y: s.rss / 1024 / 1024 }));
  series[`backlog_heap_used_mib_${key}`] = samples.map((s) => ({
    x: s.backlog,
    y: s.heapUsed / 1024 / 1024,
  }));
  figures.push(
    figure(`backlog_anon_growth_${key}`, `${label}: RssAnon growth over the backlog`, [growth], 'MiB'),
  );
  figures.push(
    figure(
      `backlog_anon_growth_gc_${key}`,
      `${label}: RssAnon growth, after a full GC`,
      [growthAfterGc],
      'MiB',
    ),
  );
  figures.push(
    figure(
      `backlog_anon_slope_${key}`,
      `${label}: RssAnon growth after warm-up`,
      [slope],
      'MiB per M readings',
    ),
  );
  figures.push(
    figure(
      `backlog_append_rate_${key}`,
      `${label}: durable append rate, upstream down`,
      [final.rate],
      'readings/s',
    ),
  );
  goals.push(
    goal(
      `${label}: RssAnon growth, backlog 0 -> ${last.backlog.toLocaleString('en-US')} readings <= 10 MiB`,
      growth,
      '<=',
      10,
      1,
    ),
  );
  notes.push(
    `backlog (${label}) appended through the queue API (durable, 2,000 readings a commit), Kafka sink at a closed port`,
  );
}

/** Child: a gateway whose only sink is a Kafka sink with no broker behind it; appends until --readings. */
async function serveBacklog() {
  const { validateConfig } = await import(join(opts.dist, 'gateway/config/load.js'));
  const { Gateway } = await import(join(opts.dist, 'gateway/runtime/gateway.js'));
  const { silentLogger } = await import(join(opts.dist, 'gateway/observe/log.js'));
  const total = Number(opts.readings);
  const config = validateConfig({
    gateway: { id: 'bench', data_dir: opts.dir },
    log: { level: 'silent' },
    queue: { max_bytes: '8GiB', on_full: 'reject_new' },
    sinks: { upstream: { type: 'kafka', brokers: [`127.0.0.1:${opts.port}`], topic: 'sensors' } },
  });
  const gw = await Gateway.start(config, { log: silentLogger });
  await sleep(2000); // the sink's first connection attempts fail
  const sample = (backlog, rate) => {
    const m = procMemory();
    process.send({ sample: { backlog, rate, heapUsed: process.memoryUsage().heapUsed, ...m } });
  };
  sample(0, 0);
  const chunk = 2_000;
  const every = Math.max(chunk, Math.round(total / 100 / chunk) * chunk);
  let t = performance.now();
  const t0 = t;
  for (let i = 0; i < total;) {
    const n = Math.min(chunk, total - i);
    const batch = new Array(n);
    for (let k = 0; k < n; k++) {
      const j = i + k;
      batch[k] = {
        device: `dev-${j % 200}`,
        metric: j % 2 ? 'temperature' : 'humidity',
        value: 20 + (j % 1000) / 100,
        unit: j % 2 ? 'C' : '%',
        ts: 1_796_000_000_000 + j,
        source: 'bench',
      };
    }
    await gw.queue.append(batch);
    i += n;
    if (i % every === 0 || i === total) {
      const now = performance.now();
      sample(i, (every * 1000) / (now - t));
      t = now;
    }
  }
  const rate = (total * 1000) / (performance.now() - t0);
  globalThis.gc?.();
  await sleep(500);
  globalThis.gc?.();
  const stats = gw.queue.stats();
  const sink = gw.status().sinks[0];
  const health = `${sink?.health?.state ?? 'n/a'} (${sink?.health?.detail ?? ''})`;
  process.send({
    done: {
      ...procMemory(),
      rate,
      queueBytes: stats.bytes,
      encodedPerReading: stats.bytes / stats.depth,
      sinkHealth: health,
    },
  });
  await gw.stop();
  process.exit(0);
}
