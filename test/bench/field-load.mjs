// Efficiency at a field-like load (issue 21): N devices (MQTT.js clients, default 100) each publishing QoS 1
// at R messages/s (default 100) into the real gateway (`sluice run`: dist/gateway/cli/main.js, an
// mqtt_broker source and a file sink), measured for D seconds after a warm-up. At this load messages arrive
// about one per socket read, so what a turn of the event loop and a commit cost is paid on few readings.
// The clients run in child processes (field-load-client.mjs, open loop: each on its own clock), so that the
// gateway's CPU (/proc/<pid>/stat utime+stime, all threads) is measured alone.
// Prints per variant: readings/s acknowledged (of offered), gateway CPU us per reading, RSS and anon RSS
// range, PUBACK latency p50/p99/max, commits/s and readings per commit (the gateway's /metrics:
// sluice_queue_commits_total, which counts the file sink's ack commits too, and sluice_queue_last_sequence),
// the machine's load average, and the goals (<= 10 us/reading, RSS <= 100 MiB, PUBACK p99 <= 20 ms).
// Variants: every --linger-ms (queue.commit_delay_ms) times every --node-flags; runs are interleaved (run 1
// of each variant, then run 2, ...) so that a noisy neighbour spreads over all of them; medians and ranges.
// Run: npm run build && node test/bench/field-load.mjs [--clients 100] [--rate 100] [--seconds 60]
//      [--warmup 10] [--runs 2] [--linger-ms 0,2,5] [--node-flags= --node-flags=--max-semi-space-size=64]
//      [--commit-mode auto] [--procs 4] [--dir /path/on/disk]
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, waitForPort } from '../helpers/net.mjs';
import { TICKS } from './proc-cpu.mjs';
import { procMemory } from './proc-mem.mjs';
import { figure, goal, median, range, record } from './results.mjs';

const { values: opts } = parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '10' },
    runs: { type: 'string', default: '1' },
    'linger-ms': { type: 'string', default: '0' },
    'node-flags': { type: 'string', multiple: true, default: [''] },
    'commit-mode': { type: 'string', default: 'auto' },
    procs: { type: 'string', default: '4' },
    dir: { type: 'string', default: tmpdir() },
  },
});

const root = fileURLToPath(new URL('../../', import.meta.url));
const mainJs = join(root, 'dist/gateway/cli/main.js');
const clientJs = fileURLToPath(new URL('./field-load-client.mjs', import.meta.url));
const CLIENTS = Number(opts.clients);
const RATE = Number(opts.rate);
const SECONDS = Number(opts.seconds);
const WARMUP = Number(opts.warmup);
const MIB = 1024 * 1024;
const GOALS = { usPerReading: 10, rssMiB: 100, p99Ms: 20 };

const variants = [];
for (const flags of opts['node-flags']) {
  for (const linger of opts['linger-ms'].split(',').map(Number)) {
    const nodeFlags = flags.split(' ').filter((f) => f !== '');
    const name = `linger ${linger} ms${nodeFlags.length ? ` ${nodeFlags.join(' ')}` : ''}`;
    variants.push({ name, linger, nodeFlags });
  }
}

/** `sluice run` on a temporary config: the broker on `port`, metrics on `httpPort`, a file sink. */
async function startGateway(variant, dataDir) {
  const port = await freePort();
  const httpPort = await freePort();
  const config = {
    gateway: { id: 'field-load', data_dir: dataDir },
    log: { level: 'warn' },
    queue: {
      max_bytes: '4GiB',
      commit_mode: opts['commit-mode'],
      ...(variant.linger > 0 ? { commit_delay_ms: variant.linger } : {}),
    },
    observe: { http: { listen: '127.0.0.1', port: httpPort } },
    sources: {
      devices: {
        type: 'mqtt_broker',
        listeners: [{ type: 'tcp', host: '127.0.0.1', port, allow_anonymous: true }],
        connect_rate_per_s: 0, // every device connects at once
        topics: [{ topic: 'sensors/{device}/{metric}', decoder: 'number' }],
      },
    },
    sinks: {
      out: { type: 'file', path: join(dataDir, 'out'), start_from: 'oldest', roll_interval_ms: 5000 },
    },
  };
  const file = join(dataDir, 'config.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
  const child = spawn(process.execPath, [...variant.nodeFlags, mainJs, 'run', '-c', file], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await Promise.race([
    Promise.all([waitForPort(port, '127.0.0.1', 60_000), waitForPort(httpPort, '127.0.0.1', 60_000)]),
    exited.then((code) => {
      throw new Error(`gateway exited ${code} before listening`);
    }),
  ]);
  return {
    pid: child.pid,
    port,
    httpPort,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** User and system CPU seconds (all threads) of a process: /proc/<pid>/stat fields 14 and 15. */
function procCpu(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS };
}

/** % of the last 60 s some task waited for a CPU (or for I/O), from PSI; NaN without /proc/pressure. */
function pressure(kind) {
  try {
    const m = /some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync(`/proc/pressure/${kind}`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch (err) {
    if (err.code === 'ENOENT') return Number.NaN;
    throw err;
  }
}

/** The gateway's counters from its Prometheus endpoint. */
async function scrape(httpPort) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const value = (name) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return {
    commits: value('sluice_queue_commits_total'),
    lastSeq: value('sluice_queue_last_sequence'),
    inline: value('sluice_queue_commit_inline'),
    fallbacks: value('sluice_queue_commit_mode_fallbacks_total'),
  };
}

function message(child, pick) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m && typeof m === 'object' && pick in m) {
        child.off('message', onMessage);
        resolve(m[pick]);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`client process exited ${code}`)));
  });
}

async function once(variant, run) {
  const dataDir = mkdtempSync(join(opts.dir, 'sluice-field-load-'));
  const gw = await startGateway(variant, dataDir);
  const procs = Math.max(1, Math.min(Number(opts.procs), CLIENTS));
  const children = [];
  try {
    for (let p = 0, first = 0; p < procs; p++) {
      const count = Math.floor(CLIENTS / procs) + (p < CLIENTS % procs ? 1 : 0);
      const child = fork(clientJs, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      await message(child, 'ready');
      child.send({ connect: { port: gw.port, first, count, rate: RATE } });
      children.push(message(child, 'connected').then(() => child));
      first += count;
    }
    const clients = await Promise.all(children);
    await sleep(WARMUP * 1000);
    const load = loadavg();
    const m0 = await scrape(gw.httpPort);
    const cpu0 = procCpu(gw.pid);
    for (const c of clients) c.send('measure');
    const t0 = performance.now();
    const mem = [];
    while (performance.now() - t0 < SECONDS * 1000) {
      mem.push(procMemory(gw.pid));
      await sleep(Math.min(500, SECONDS * 1000 - (performance.now() - t0)));
    }
    const reports = await Promise.all(
      clients.map((c) => {
        const r = message(c, 'report');
        c.send('report');
        return r;
      }),
    );
    const cpu1 = procCpu(gw.pid);
    const m1 = await scrape(gw.httpPort);
    const seconds = (performance.now() - t0) / 1000;
    mem.push(procMemory(gw.pid));
    for (const c of clients) c.send('end');
    await Promise.all(
      clients.map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r()))),
    );

    const acked = reports.reduce((s, r) => s + r.acked, 0);
    const sent = reports.reduce((s, r) => s + r.sent, 0);
    const errors = reports.reduce((s, r) => s + r.errors, 0);
    const lat = latency(reports);
    const appended = m1.lastSeq - m0.lastSeq;
    const commits = m1.commits - m0.commits;
    const r = {
      variant: variant.name,
      run,
      load1: load[0],
      offered: sent / seconds,
      rate: acked / seconds,
      errors,
      usPerReading: ((cpu1.user + cpu1.system - cpu0.user - cpu0.system) * 1e6) / Math.max(1, appended),
      systemShare:
        (cpu1.system - cpu0.system) / Math.max(1e-9, cpu1.user + cpu1.system - cpu0.user - cpu0.system),
      cpuShare: (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / seconds,
      rss: range(mem.map((x) => x.rss / MIB)),
      anon: range(mem.map((x) => x.anon / MIB)),
      p50: lat(50),
      p99: lat(99),
      max: lat(100),
      commitsPerS: commits / seconds,
      perCommit: appended / Math.max(1, commits),
      cpuPressure: pressure('cpu'),
      ioPressure: pressure('io'),
      mode: `${m1.inline === 1 ? 'inline' : 'background'} at the end, ${m1.fallbacks} fallbacks`,
    };
    console.log(
      `${variant.name} run ${run + 1}: ${r.rate.toFixed(0)}/${r.offered.toFixed(0)} readings/s acked, ` +
        `${r.usPerReading.toFixed(1)} us CPU/reading (${(r.cpuShare * 100).toFixed(0)}% of a core, ${(r.systemShare * 100).toFixed(0)}% of it system), ` +
        `RSS ${r.rss.map((x) => x.toFixed(0)).join('-')} MiB (anon ${r.anon.map((x) => x.toFixed(0)).join('-')}), ` +
        `PUBACK p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} max ${r.max.toFixed(1)} ms, ` +
        `${r.commitsPerS.toFixed(0)} commits/s, ${r.perCommit.toFixed(1)} readings/commit, load ${r.load1.toFixed(2)} (PSI cpu ${r.cpuPressure}% io ${r.ioPressure}%), commits ${r.mode}` +
        (errors ? `, ${errors} client errors` : ''),
    );
    return r;
  } finally {
    await gw.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Percentile (0..100) over every client process's histogram. */
function latency(reports) {
  const counts = new Map();
  const exact = [];
  let total = 0;
  let bucketMs = 0.01;
  for (const r of reports) {
    bucketMs = r.bucketMs;
    for (const [b, n] of r.pairs) counts.set(b, (counts.get(b) ?? 0) + n);
    for (const ms of r.overflow) exact.push(ms);
    total += r.acked;
  }
  const buckets = [...counts].sort((a, b) => a[0] - b[0]);
  exact.sort((a, b) => a - b);
  return (p) => {
    if (total === 0) return Number.NaN;
    const want = Math.min(total, Math.max(1, Math.ceil((p / 100) * total)));
    let seen = 0;
    for (const [b, n] of buckets) {
      seen += n;
      if (seen >= want) return (b + 1) * bucketMs; // the bucket's upper edge
    }
    return exact[want - seen - 1] ?? Number.NaN;
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

console.log(
  `field load: ${CLIENTS} clients x ${RATE} QoS 1 msg/s, ${WARMUP} s warm-up + ${SECONDS} s measured, ` +
    `commit_mode ${opts['commit-mode']}, load average at start ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
);
const results = [];
for (let run = 0; run < Number(opts.runs); run++) {
  for (const v of variants) results.push(await once(v, run));
}

const figures = [];
const goals = [];
const fmtRange = (xs, d = 1) =>
  range(xs)
    .map((x) => x.toFixed(d))
    .join('-');
console.log(
  `\n${'variant'.padEnd(40)}${'readings/s'.padStart(11)}${'us/reading'.padStart(11)}${'RSS MiB'.padStart(10)}${'anon MiB'.padStart(10)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'commits/s'.padStart(10)}${'r/commit'.padStart(9)}${'load1'.padStart(7)}`,
);
for (const v of variants) {
  const rs = results.filter((x) => x.variant === v.name);
  const m = (k) => median(rs.map((x) => x[k]));
  const rssMax = rs.map((x) => x.rss[1]);
  const anonMax = rs.map((x) => x.anon[1]);
  console.log(
    `${v.name.padEnd(40)}${m('rate').toFixed(0).padStart(11)}${m('usPerReading').toFixed(1).padStart(11)}${median(rssMax).toFixed(0).padStart(10)}${median(anonMax).toFixed(0).padStart(10)}${m('p50').toFixed(2).padStart(8)}${m('p99').toFixed(2).padStart(8)}${m('commitsPerS').toFixed(0).padStart(10)}${m('perCommit').toFixed(1).padStart(9)}${m('load1').toFixed(2).padStart(7)}`,
  );
  console.log(
    `${'  ranges'.padEnd(40)}${fmtRange(
      rs.map((x) => x.rate),
      0,
    ).padStart(11)}${fmtRange(rs.map((x) => x.usPerReading)).padStart(11)}` +
      `  RSS ${fmtRange(
        rs.flatMap((x) => x.rss),
        0,
      )} anon ${fmtRange(
        rs.flatMap((x) => x.anon),
        0,
      )}` +
      `  p99 ${fmtRange(
        rs.map((x) => x.p99),
        2,
      )}  r/commit ${fmtRange(rs.map((x) => x.perCommit))}  load ${fmtRange(
        rs.map((x) => x.load1),
        2,
      )}`,
  );
  const key = v.name.replace(/[^a-z0-9]+/gi, '_').replace(/_+$/, '');
  figures.push(
    figure(
      `${key}_rps`,
      `${v.name}: readings/s acked`,
      rs.map((x) => x.rate),
      'readings/s',
    ),
    figure(
      `${key}_us`,
      `${v.name}: gateway CPU per reading`,
      rs.map((x) => x.usPerReading),
      'us',
    ),
    figure(`${key}_rss`, `${v.name}: peak RSS`, rssMax, 'MiB'),
    figure(`${key}_anon`, `${v.name}: peak anon RSS`, anonMax, 'MiB'),
    figure(
      `${key}_p99`,
      `${v.name}: PUBACK p99`,
      rs.map((x) => x.p99),
      'ms',
    ),
    figure(
      `${key}_per_commit`,
      `${v.name}: readings per commit`,
      rs.map((x) => x.perCommit),
      'readings',
    ),
  );
}
for (const v of variants) {
  const rs = results.filter((x) => x.variant === v.name);
  goals.push(
    goal(
      `${v.name}: gateway CPU <= ${GOALS.usPerReading} us/reading (median)`,
      median(rs.map((x) => x.usPerReading)),
      '<=',
      GOALS.usPerReading,
      1,
    ),
    goal(
      `${v.name}: RSS <= ${GOALS.rssMiB} MiB (highest sample of any run)`,
      Math.max(...rs.map((x) => x.rss[1])),
      '<=',
      GOALS.rssMiB,
      0,
    ),
    goal(
      `${v.name}: PUBACK p99 <= ${GOALS.p99Ms} ms (median)`,
      median(rs.map((x) => x.p99)),
      '<=',
      GOALS.p99Ms,
    ),
  );
}
record('field-load', {
  figures,
  goals,
  params: {
    clients: CLIENTS,
    rate: RATE,
    seconds: SECONDS,
    warmup: WARMUP,
    runs: Number(opts.runs),
    commitMode: opts['commit-mode'],
  },
  notes: [
    "commits/s counts every queue commit, the file sink's acks included; readings per commit = appended / commits.",
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  ],
});
