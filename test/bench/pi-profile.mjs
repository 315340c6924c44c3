// A Pi-like profile of the gateway on this machine (issue 21): the gateway child (ingest-child.mjs) pinned to
// one core (`taskset -c 0`), its V8 heap capped (--max-old-space-size), and every fdatasync it makes slowed
// to an SD card's latency (strace's fault injection, as test/queue/commit-mode.test.ts does: 0, 2, 5 and
// 20 ms). For each delay: (1) ingest: MQTT.js QoS 1, 8 clients x 32 in flight, from this process pinned to
// the other core; readings/s acked, PUBACK p50/p99, readings per commit, and what `commit_mode: auto`
// chose (and how often it fell back); (2) drain: the same gateway restarted on the backlog that ingest left,
// with a file sink from the oldest reading (its fsyncs slowed too): readings/s until the sink's lag is 0.
// A Pi 4's core is slower than one of these, so the figures are an upper bound for a Pi; what carries over
// is how the figures move with the disk's latency and which commit mode auto picks.
// Run: npm run build && node test/bench/pi-profile.mjs [--delays 0,2,5,20] [--runs 2] [--seconds 8]
//      [--heap 128] [--cpu 0]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mqttLoad, slowFsync, startGateway } from './mqtt-load.mjs';
import { figure, loadText, median, range, record } from './results.mjs';

const { values: opts } = parseArgs({
  options: {
    delays: { type: 'string', default: '0,2,5,20' },
    runs: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    heap: { type: 'string', default: '128' },
    cpu: { type: 'string', default: '0' },
    'drain-timeout-s': { type: 'string', default: '300' },
  },
});

const gatewayCpu = opts.cpu;
const loadCpu = String((Number(gatewayCpu) + 1) % Math.max(1, cpus().length));
for (const tool of ['taskset', 'strace']) {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) {
    throw new Error(`${tool} is needed (apt-get install -y ${tool === 'taskset' ? 'util-linux' : 'strace'})`);
  }
}
// The load generator off the gateway's core, so that the gateway has its one core to itself.
spawnSync('taskset', ['-p', '-c', loadCpu, String(process.pid)], { stdio: 'ignore' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function wrap(delayMs) {
  return ['taskset', '-c', gatewayCpu, ...(delayMs > 0 ? slowFsync(delayMs) : [])];
}

async function once(delayMs) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pi-'));
  const nodeFlags = [`--max-old-space-size=${opts.heap}`];
  try {
    // (1) ingest, no sink
    const gw = await startGateway({ wrap: wrap(delayMs), nodeFlags, dir, args: ['--commit-mode', 'auto'] });
    let s0;
    let s1;
    let load;
    try {
      load = await mqttLoad({
        port: gw.port,
        clients: 8,
        window: 32,
        warmupMs: Number(opts.warmup) * 1000,
        measureMs: Number(opts.seconds) * 1000,
        onWindow: async (phase) => {
          if (phase === 'start') s0 = (await gw.stats()).stats;
          else s1 = (await gw.stats()).stats;
        },
      });
    } finally {
      await gw.stop({ keepDir: true });
    }
    const readings = s1.lastSeq - s0.lastSeq;
    const commits = s1.commits - s0.commits;
    // (2) drain of what ingest left, to a file sink
    const drain = await startGateway({
      wrap: wrap(delayMs),
      nodeFlags,
      dir,
      args: ['--commit-mode', 'auto', '--sink', 'file', '--start-from', 'oldest'],
    });
    let drainRate = Number.NaN;
    let backlog = 0;
    try {
      const first = (await drain.stats()).stats;
      backlog = first.depth;
      const t0 = performance.now();
      const deadline = t0 + Number(opts['drain-timeout-s']) * 1000;
      for (;;) {
        const st = (await drain.stats()).stats;
        const lag = st.cursors?.find((c) => c.name === 'out')?.lag;
        if (lag === 0) {
          drainRate = backlog / ((performance.now() - t0) / 1000);
          break;
        }
        if (performance.now() > deadline) break;
        await sleep(100);
      }
    } finally {
      await drain.stop();
    }
    return {
      delayMs,
      rate: load.rate,
      p50: load.p50,
      p99: load.p99,
      perCommit: readings / commits,
      mode: s1.commitMode,
      fallbacks: s1.commitModeFallbacks,
      backlog,
      drainRate,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const delays = opts.delays.split(',').map(Number);
const load0 = loadText();
const results = [];
// Interleaved (each delay once per round), so that a change in the machine's load hits every delay alike.
for (let r = 0; r < Number(opts.runs); r++) for (const d of delays) results.push(await once(d));
const load1 = loadText();

const figures = [];
console.log(
  `\ngateway on cpu ${gatewayCpu}, heap cap ${opts.heap} MB, load on cpu ${loadCpu}; 8 clients x 32 in flight, ${opts.seconds} s per run`,
);
console.log(
  `${'fsync delay'.padEnd(12)}${'ingest/s'.padStart(10)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'per commit'.padStart(12)}${'drain/s'.padStart(10)}  auto chose (fallbacks)`,
);
for (const d of delays) {
  const rs = results.filter((x) => x.delayMs === d);
  const m = (k) => median(rs.map((x) => x[k]));
  const [lo, hi] = range(rs.map((x) => x.rate));
  const [dlo, dhi] = range(rs.map((x) => x.drainRate));
  console.log(
    `${`${d} ms`.padEnd(12)}${m('rate').toFixed(0).padStart(10)}${m('p50').toFixed(1).padStart(8)}${m('p99').toFixed(1).padStart(8)}${m('perCommit').toFixed(1).padStart(12)}${m('drainRate').toFixed(0).padStart(10)}  ${rs.map((x) => `${x.mode} (${x.fallbacks})`).join(', ')}  (ingest ${lo.toFixed(0)}-${hi.toFixed(0)}, drain ${dlo.toFixed(0)}-${dhi.toFixed(0)})`,
  );
  const runs = (k) => rs.map((x) => x[k]);
  figures.push(
    figure(`ingest_rps_fsync${d}`, `Pi profile ingest, fsync +${d} ms`, runs('rate'), 'readings/s'),
  );
  figures.push(figure(`puback_p99_fsync${d}`, `Pi profile PUBACK p99, fsync +${d} ms`, runs('p99'), 'ms'));
  figures.push(
    figure(
      `drain_rps_fsync${d}`,
      `Pi profile drain to file, fsync +${d} ms`,
      runs('drainRate'),
      'readings/s',
    ),
  );
}
console.log(`load average: ${load0} at start, ${load1} at end; ${process.version}`);
record('pi-profile', {
  figures,
  notes: [
    `gateway pinned to cpu ${gatewayCpu}, --max-old-space-size=${opts.heap}; fsync delays by strace fault injection`,
    `auto chose: ${results.map((x) => `${x.delayMs} ms: ${x.mode} (${x.fallbacks} fallbacks)`).join('; ')}`,
    `load average ${load0} -> ${load1}`,
  ],
  params: { delays: opts.delays, runs: opts.runs, seconds: opts.seconds, heap: opts.heap },
});
