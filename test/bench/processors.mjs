// Processors: (1) QoS 1 MQTT ingest through Sluice's broker with a 3-processor source chain (filter, scale,
// deadband) against the same gateway with none, in the same run, alternating rounds; goal: chain >= 0.9x.
// (2) CPU microseconds per reading of each processor alone (a micro-bench of chain.run in batches of 500).
// (3) The ingest's chain through chainedIngest on a real queue (no fsync, so CPU only) against the bare
// append, same run, with integer values as MQTT `number` payloads give them (a scale to a double then used
// to cost 0.9 us per reading: see `changed` in gateway/processors/types.ts).
// Run: npm run build && node test/bench/processors.mjs [--shape 32x32] [--seconds 5] [--rounds 3]
//      [--micro-readings 200000] [--skip-ingest]
// The ingest load is test/bench/mqtt-ingest.mjs's: MQTT.js publishers, each with a window of QoS 1 messages
// in flight; the server runs in its own process and its CPU time per acknowledged message is reported.
// Successive values of a device differ by 37 or more (3.7 after scaling), so the deadband (band 0.5) passes
// nearly every reading: every reading pays for the whole chain and is stored (the worst case for the chain).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { freePort, waitForPort } from '../helpers/net.mjs';
import { procCpuSeconds } from './proc-cpu.mjs';
import { figure, goal, record } from './results.mjs';

/** What record() gets at the end: every part adds its figures and goals. */
const figures = [];
const goals = [];

const { values: opts } = parseArgs({
  options: {
    shape: { type: 'string', default: '32x32' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    'micro-readings': { type: 'string', default: '200000' },
    'skip-ingest': { type: 'boolean', default: false },
    serve: { type: 'string' },
    port: { type: 'string' },
    dir: { type: 'string' },
  },
});

const CHAIN = [
  { type: 'filter', expr: "metric == 'temp' && value >= 0.0" },
  { type: 'scale', factor: 0.1, offset: -10, unit: 'C' },
  { type: 'deadband', band: 0.5, max_silence_ms: 60000 },
];

/** Child process: a gateway with (`chain`) or without (`none`) the source chain, until killed. */
async function serve(kind, port, dir) {
  const { validateConfig } = await import('../../dist/gateway/config/load.js');
  const { Gateway } = await import('../../dist/gateway/runtime/gateway.js');
  const { silentLogger } = await import('../../dist/gateway/observe/log.js');
  const config = validateConfig({
    gateway: { id: 'bench', data_dir: dir },
    log: { level: 'silent' },
    sources: {
      devices: {
        type: 'mqtt_broker',
        listeners: [{ type: 'tcp', host: '127.0.0.1', port, allow_anonymous: true }],
        connect_rate_per_s: 0,
        topics: [{ topic: 'sensors/{device}/{metric}', decoder: 'number' }],
        processors: kind === 'chain' ? CHAIN : [],
      },
    },
  });
  const gw = await Gateway.start(config, { log: silentLogger });
  process.on('message', (m) => {
    if (m === 'stats') process.send?.({ stored: gw.queue.stats().depth });
  });
  process.send?.('ready');
}

async function startServer(kind) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `sluice-bench-proc-${kind}-`));
  const child = spawn(
    process.execPath,
    [new URL(import.meta.url).pathname, '--serve', kind, '--port', String(port), '--dir', dir],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  await waitForPort(port);
  return {
    port,
    pid: child.pid,
    stored() {
      return new Promise((resolve) => {
        const onMessage = (m) => {
          if (typeof m !== 'object' || m === null || !('stored' in m)) return;
          child.off('message', onMessage);
          resolve(m.stored);
        };
        child.on('message', onMessage);
        child.send('stats');
      });
    },
    async stop() {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGKILL');
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** N publishers, each with `windowSize` QoS 1 messages in flight, for `measureMs` after `warmupMs`. */
async function load(port, serverPid, publishers, windowSize, warmupMs, measureMs) {
  const clients = await Promise.all(
    Array.from({ length: publishers }, (_, i) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `bench-${i}`, reconnectPeriod: 0 }),
    ),
  );
  let acked = 0;
  let measuring = false;
  let running = true;
  let value = 0;
  const pumps = clients.map(
    (client, i) =>
      new Promise((resolve) => {
        let inflight = 0;
        const send = () => {
          if (!running) {
            if (inflight === 0) resolve();
            return;
          }
          inflight++;
          const counted = measuring;
          client.publish(`sensors/dev${i}/temp`, String((value++ * 37) % 1000), { qos: 1 }, (err) => {
            inflight--;
            if (err) throw err;
            if (counted && measuring) acked++;
            send();
          });
        };
        for (let w = 0; w < windowSize; w++) send();
      }),
  );
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const t0 = process.hrtime.bigint();
  const cpu0 = procCpuSeconds(serverPid);
  await new Promise((r) => setTimeout(r, measureMs));
  measuring = false;
  const cpu = procCpuSeconds(serverPid) - cpu0;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  await Promise.all(pumps);
  await Promise.all(clients.map((c) => c.endAsync()));
  return { rate: acked / seconds, cpuUs: (cpu * 1e6) / acked };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const range = (xs, d = 0) => `${Math.min(...xs).toFixed(d)}..${Math.max(...xs).toFixed(d)}`;

async function ingest() {
  const [publishers, windowSize] = opts.shape.split('x').map(Number);
  const rounds = Number(opts.rounds);
  console.log(
    `QoS 1 MQTT ingest, ${publishers} publishers x ${windowSize} in flight, ${opts.seconds} s measured after ${opts.warmup} s warm-up, ${rounds} rounds alternating`,
  );
  console.log(
    `chain: ${CHAIN.map((p) => p.type).join(' -> ')} at the source, before the durable append (fsync)`,
  );
  const results = { none: [], chain: [] };
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so that a drift in the machine's load does not favour one side.
    const order = round % 2 === 0 ? ['none', 'chain'] : ['chain', 'none'];
    for (const kind of order) {
      const server = await startServer(kind);
      try {
        const r = await load(
          server.port,
          server.pid,
          publishers,
          windowSize,
          Number(opts.warmup) * 1000,
          Number(opts.seconds) * 1000,
        );
        r.stored = await server.stored();
        results[kind].push(r);
        console.log(
          `  round ${round + 1} ${kind.padEnd(6)} ${r.rate.toFixed(0).padStart(8)} msgs/s ${r.cpuUs.toFixed(1).padStart(7)} cpu µs/msg  (${r.stored} stored)`,
        );
      } finally {
        await server.stop();
      }
    }
  }
  const rate = (k) => results[k].map((r) => r.rate);
  const cpu = (k) => results[k].map((r) => r.cpuUs);
  const ratios = results.none.map((n, i) => results.chain[i].rate / n.rate);
  console.log(
    `\n${'target'.padEnd(34)}${'median msgs/s'.padStart(15)}${'range'.padStart(16)}${'cpu µs/msg'.padStart(12)}`,
  );
  for (const [k, label] of [
    ['none', 'sluice, no processors'],
    ['chain', 'sluice, filter+scale+deadband'],
  ])
    console.log(
      `${label.padEnd(34)}${median(rate(k)).toFixed(0).padStart(15)}${range(rate(k)).padStart(16)}${median(cpu(k)).toFixed(1).padStart(12)}`,
    );
  const ratio = median(ratios);
  console.log(
    `chain / none, per round: ${ratios.map((x) => x.toFixed(2)).join(', ')}; median ${ratio.toFixed(2)}x; goal >= 0.90x: ${ratio >= 0.9 ? 'MET' : 'NOT MET'}`,
  );
  figures.push(
    figure('ingest.none.rate', `ingest ${opts.shape}, no processors`, rate('none'), 'msgs/s'),
    figure('ingest.chain.rate', `ingest ${opts.shape}, filter+scale+deadband`, rate('chain'), 'msgs/s'),
    figure('ingest.none.cpu', `ingest ${opts.shape}, no processors: server CPU`, cpu('none'), 'µs/msg'),
    figure('ingest.chain.cpu', `ingest ${opts.shape}, chain: server CPU`, cpu('chain'), 'µs/msg'),
    figure('ingest.ratio', 'chain / none, per round', ratios, 'x'),
  );
  goals.push(goal('ingest with the chain >= 0.90x without (median of rounds)', ratio, '>=', 0.9));
}

/** CPU µs per reading of each processor alone, through the real chain (metrics counted, as in the gateway). */
async function micro() {
  const { ProcessorChain } = await import('../../dist/gateway/processors/chain.js');
  const { processorSchema } = await import('../../dist/gateway/processors/index.js');
  const n = Number(opts['micro-readings']);
  const t0 = 1_700_000_000_000;
  const input = Array.from({ length: n }, (_, i) => ({
    device: `dev-${i % 50}`,
    metric: i % 10 === 0 ? 'humidity' : 'temperature',
    value: 20 + Math.sin(i / 50) * 5,
    unit: 'degF',
    tags: { line: String(i % 3) },
    ts: t0 + i * 100,
    source: 'bench',
  }));
  const cases = [
    ['filter', { type: 'filter', expr: "metric == 'temperature' && value > 18.0" }],
    ['filter (tags)', { type: 'filter', expr: "tags.line == '1' || device.startsWith('dev-1')" }],
    ['rename', { type: 'rename', metric: '{device}_{metric}' }],
    ['tag', { type: 'tag', add: { where: 'line-{tags.line}' }, remove: ['line'] }],
    ['enrich', { type: 'enrich', tags: { site: 'plant-3' } }],
    ['scale (linear)', { type: 'scale', factor: 0.1, offset: -10 }],
    ['scale (degF -> degC)', { type: 'scale', convert: { to: 'degC' } }],
    [
      'scale (integer values)',
      { type: 'scale', factor: 0.1, offset: -10 },
      (x) => ({ ...x, value: Math.round(x.value * 10) }),
    ],
    ['deadband', { type: 'deadband', band: 0.5, max_silence_ms: 60000 }],
    ['downsample', { type: 'downsample', interval_ms: 10000 }],
  ];
  const metrics = { in: () => {}, out: () => {}, dropped: () => {}, error: () => {} };
  const ctx = { side: 'source', component: 'bench', gatewayId: 'bench', fleetLabels: [] };
  console.log(
    `\nCPU per reading, each processor alone, ${n} readings in batches of 500 (median of 5 passes)`,
  );
  console.log(
    `${'processor'.padEnd(34)}${'µs/reading'.padStart(12)}${'range'.padStart(14)}${'kept'.padStart(10)}`,
  );
  for (const [label, config, shape] of cases) {
    const readings = shape ? input.map(shape) : input;
    const chain = ProcessorChain.build([processorSchema.parse(config)], ctx, () => metrics);
    const passes = [];
    let kept = 0;
    for (let pass = 0; pass < 6; pass++) {
      chain.reset();
      kept = 0;
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i += 500) kept += chain.run(readings.slice(i, i + 500)).kept.length;
      const c = process.cpuUsage(c0);
      if (pass > 0) passes.push((c.user + c.system) / n); // the first pass warms the JIT up
    }
    console.log(
      `${label.padEnd(34)}${median(passes).toFixed(3).padStart(12)}${range(passes, 3).padStart(14)}${String(kept).padStart(10)}`,
    );
    figures.push(figure(`micro.${label}`, `${label} alone`, passes, 'µs/reading'));
  }
}

/** CPU µs per reading of queue.append with and without the ingest's chain (chainedIngest), same run. */
async function queueMicro() {
  const { Queue } = await import('../../dist/gateway/queue/queue.js');
  const { ProcessorChain } = await import('../../dist/gateway/processors/chain.js');
  const { processorSchema } = await import('../../dist/gateway/processors/index.js');
  const { chainedIngest } = await import('../../dist/gateway/processors/source-ingest.js');
  const metrics = { in: () => {}, out: () => {}, dropped: () => {}, error: () => {} };
  const ctx = { side: 'source', component: 'bench', gatewayId: 'bench', fleetLabels: [] };
  const n = Number(opts['micro-readings']);
  const batch = 32;
  let value = 0;
  const reading = (i) => ({
    device: `dev${i % 32}`,
    metric: 'temp',
    value: (value++ * 37) % 1000, // an integer, as the ingest's publishers send it
    ts: Date.now(),
    source: 'devices',
  });
  async function pass(kind) {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-procq-'));
    const q = Queue.open({ dir, maxBytes: 4 * 1024 ** 3, onFull: 'drop_oldest', noSync: true });
    try {
      const chain = ProcessorChain.build(
        CHAIN.map((c) => processorSchema.parse(c)),
        ctx,
        () => metrics,
      );
      const bare = (rs, o) => q.append(rs, o);
      const append =
        kind === 'chain'
          ? chainedIngest(
              chain,
              bare,
              () => q.lastSeq,
              () => {},
            )
          : bare;
      const c0 = process.cpuUsage();
      let inflight = [];
      for (let i = 0; i < n; i += batch) {
        inflight.push(append(Array.from({ length: batch }, (_, j) => reading(i + j))));
        if (inflight.length >= 32) {
          await Promise.all(inflight);
          inflight = [];
        }
      }
      await Promise.all(inflight);
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / n;
    } finally {
      await q.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const res = { none: [], chain: [] };
  for (let p = 0; p < 6; p++)
    for (const kind of p % 2 ? ['chain', 'none'] : ['none', 'chain']) {
      const us = await pass(kind);
      if (p > 0) res[kind].push(us); // the first pass warms the JIT up
    }
  console.log(
    `\nqueue.append (no fsync) of ${n} integer-valued readings in batches of ${batch}, with and without the chain (median of 5 passes)`,
  );
  for (const kind of ['none', 'chain'])
    console.log(
      `${kind.padEnd(34)}${median(res[kind]).toFixed(3).padStart(12)}${range(res[kind], 3).padStart(14)} µs/reading`,
    );
  console.log(`chain overhead per reading: ${(median(res.chain) - median(res.none)).toFixed(3)} µs`);
  figures.push(
    figure('append.none', 'queue.append (no fsync), no chain', res.none, 'µs/reading'),
    figure('append.chain', 'queue.append (no fsync), with the chain', res.chain, 'µs/reading'),
  );
}

async function main() {
  if (!opts['skip-ingest']) await ingest();
  await micro();
  await queueMicro();
  console.log(
    '\nThe machine was shared with parallel work (other builds and test runs): figures vary between runs.',
  );
  record('processors', {
    figures,
    goals,
    params: {
      shape: opts.shape,
      seconds: Number(opts.seconds),
      rounds: Number(opts.rounds),
      microReadings: Number(opts['micro-readings']),
      skipIngest: opts['skip-ingest'],
    },
  });
}

if (opts.serve) await serve(opts.serve, Number(opts.port), opts.dir);
else await main();
