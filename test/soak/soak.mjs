// Soak: the real gateway (`sluice run`, default settings: mqtt_broker -> LMDB queue -> kafka sink) under a
// steady MQTT QoS 1 load for `--minutes` (60), with Kafka outages (every broker's network taken down by the
// fault proxies of test/peers/kafka/proxy.ts, in front of the cluster's PROXIED listeners) and MQTT reconnect
// storms (every client's connection cut at once; they reconnect together, through the broker's connect rate
// limit). RSS, anonymous RSS and open fds of the gateway are sampled from /proc into series (record(), and an
// SVG chart with --chart FILE). At the end publishing stops, the queue drains, and kcat reads the topic back.
// PASS (exit 0) when every PUBACKed reading is in Kafka, duplicates are only of delivered readings, and RSS
// after warm-up grew less than 10% (median of the minute after warm-up against the median of the last minute;
// no fault is scheduled in either).
// Run: npm run soak -- [--minutes 60] [--clients 100] [--rate 10] [--outage-every-s 300] [--outage-s 30]
//      [--storm-every-s 120] [--sample-s 5] [--warmup-minutes M] [--chart soak.svg] [--kafka-info FILE]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { goal, figure, median, record } from '../bench/results.mjs';
import { startFleet } from '../chaos/fleet.mjs';
import { gatewayConfig, procMemory, startGateway } from '../chaos/gateway-proc.mjs';
import { verifyTopic } from '../chaos/verify.mjs';
import { freePort } from '../helpers/net.mjs';
import { until } from '../helpers/wait.mjs';

const { values: opts } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    clients: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10' },
    window: { type: 'string', default: '16' },
    'outage-every-s': { type: 'string', default: '300' },
    'outage-s': { type: 'string', default: '30' },
    'storm-every-s': { type: 'string', default: '120' },
    'sample-s': { type: 'string', default: '5' },
    'warmup-minutes': { type: 'string' },
    chart: { type: 'string' },
    'kafka-info': { type: 'string' },
  },
});
const durationS = Number(opts.minutes) * 60;
const warmupS = opts['warmup-minutes'] ? Number(opts['warmup-minutes']) * 60 : Math.min(300, durationS / 5);
const WINDOW_S = Math.min(60, durationS / 10); // the two measurement windows
const sampleS = Number(opts['sample-s']);
const outageEvery = Number(opts['outage-every-s']);
const outageS = Number(opts['outage-s']);
const stormEvery = Number(opts['storm-every-s']);
const clients = Number(opts.clients);
const rate = Number(opts.rate);

register('../bench/kafka-ts-hooks.mjs', import.meta.url);
const { startKafkaCluster } = await import('../peers/kafka/cluster.ts');
const { createTopic } = await import('../peers/kafka/admin.ts');
const { KafkaFaultProxy } = await import('../peers/kafka/proxy.ts');

/** No fault may touch the two windows RSS is compared over (nor the half minute before each). */
function quiet(from, to) {
  const windows = [
    [warmupS - 30, warmupS + WINDOW_S],
    [durationS - WINDOW_S - 30, durationS],
  ];
  return windows.every(([a, b]) => to <= a || from >= b);
}

/** Two stacked line charts (RSS and anonymous RSS in MiB; open fds) as a small standalone SVG. */
function chart(samples, faults) {
  const W = 760;
  const H = 180;
  const pad = 40;
  const panel = (y0, series, label) => {
    const xs = samples.map((s) => s.t);
    const all = series.flatMap(([, key]) => samples.map((s) => s[key]));
    const [xmax, ymax] = [Math.max(...xs, 1), Math.max(...all, 1) * 1.1];
    const px = (x) => pad + (x / xmax) * (W - 2 * pad);
    const py = (y) => y0 + H - (y / ymax) * H;
    const bands = faults
      .map(
        (f) =>
          `<rect x="${px(f.at)}" y="${y0}" width="${Math.max(1, px(f.at + f.s) - px(f.at))}" height="${H}" fill="${f.kind === 'outage' ? '#fdd' : '#ddf'}"/>`,
      )
      .join('');
    const lines = series
      .map(
        ([color, key]) =>
          `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${samples.map((s) => `${px(s.t).toFixed(1)},${py(s[key]).toFixed(1)}`).join(' ')}"/>`,
      )
      .join('');
    return `${bands}<rect x="${pad}" y="${y0}" width="${W - 2 * pad}" height="${H}" fill="none" stroke="#999"/>${lines}<text x="${pad}" y="${y0 - 6}" font-size="12">${label} (max ${ymax.toFixed(0)}; x: 0-${xmax.toFixed(0)} s; red: Kafka outage, blue: reconnect storm)</text>`;
  };
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H + 90}" font-family="sans-serif">${panel(
    20,
    [
      ['#c00', 'rssMiB'],
      ['#06c', 'rssAnonMiB'],
    ],
    'gateway RSS (red line) and anonymous RSS (blue), MiB',
  )}${panel(H + 60, [['#080', 'fds']], 'gateway open fds')}</svg>\n`;
}

const cluster = opts['kafka-info']
  ? { ...JSON.parse(readFileSync(opts['kafka-info'], 'utf8')), close: async () => undefined }
  : await startKafkaCluster({ nodes: 3, proxied: true });
const proxies = await KafkaFaultProxy.forCluster(cluster);
const dir = mkdtempSync(join(tmpdir(), 'sluice-soak-'));
let exitCode = 1;
let gw;
let fleet;
try {
  const topic = `soak-${process.pid}-${Date.now()}`;
  await createTopic(cluster, topic, { partitions: 3 });
  const mqttPort = await freePort();
  const config = gatewayConfig({
    id: 'gw-soak',
    dataDir: join(dir, 'data'),
    mqttPort,
    httpPort: await freePort(),
    brokers: KafkaFaultProxy.bootstrap(cluster), // through the proxies, so that an outage cuts them off
    topic,
  });
  gw = await startGateway(config, dir);
  let storming = false;
  fleet = await startFleet({
    url: `mqtt://127.0.0.1:${mqttPort}`,
    clients,
    rate,
    window: Number(opts.window),
    prefix: 'soak-',
    reconnectMs: 500,
  });
  console.log(
    `soak: ${clients} MQTT QoS 1 publishers x ${rate}/s for ${opts.minutes} min (warm-up ${warmupS} s); ` +
      `Kafka outage ${outageS} s every ${outageEvery} s, reconnect storm every ${stormEvery} s; gateway pid ${gw.pid}`,
  );
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const samples = [];
  const faults = [];
  let lag = 0;
  const sample = async () => {
    const m = procMemory(gw.pid);
    const s = await gw.status().catch(() => undefined);
    if (s) lag = s.queue.cursors[0]?.lag ?? lag;
    // The V8 heap in use (main thread), to tell a heap that grows from RSS that does.
    const heap = await gw.gauge('nodejs_heap_size_used_bytes').catch(() => NaN);
    samples.push({
      t: Math.round(elapsed()),
      rssMiB: m.rss / 2 ** 20,
      rssAnonMiB: m.rssAnon / 2 ** 20,
      fds: m.fds,
      heapMiB: heap / 2 ** 20,
      lag,
      acked: fleet.ledger.ackedCount,
      connected: fleet.connected(),
    });
  };
  let nextOutage = outageEvery;
  let nextStorm = stormEvery;
  let nextSample = 0;
  let nextPrint = 60;
  while (elapsed() < durationS) {
    const now = elapsed();
    if (now >= nextSample) {
      nextSample += sampleS;
      await sample();
    }
    if (now >= nextOutage) {
      nextOutage += outageEvery;
      if (quiet(now, now + outageS)) {
        faults.push({ kind: 'outage', at: Math.round(now), s: outageS });
        for (const p of proxies) p.down();
        setTimeout(() => {
          for (const p of proxies) p.up();
        }, outageS * 1000);
      }
    }
    if (now >= nextStorm && !storming) {
      nextStorm += stormEvery;
      if (quiet(now, now + 10)) {
        faults.push({ kind: 'storm', at: Math.round(now), s: 5 });
        fleet.storm();
      }
    }
    if (now >= nextPrint) {
      nextPrint += 60;
      const last = samples[samples.length - 1];
      console.log(
        `  ${Math.round(now)} s: RSS ${last.rssMiB.toFixed(1)} MiB (anon ${last.rssAnonMiB.toFixed(1)}), ` +
          `${last.fds} fds, lag ${last.lag}, ${last.acked} PUBACKed, ${last.connected}/${clients} connected`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const p of proxies) p.up();
  storming = true;
  fleet.pause();
  const unsettled = await fleet.settle(60_000);
  const drainStarted = performance.now();
  await until(async () => (await gw.status()).queue.cursors[0]?.lag === 0, {
    timeoutMs: 10 * 60_000,
    intervalMs: 500,
    what: 'the gateway drained its queue to Kafka',
  });
  const drainS = (performance.now() - drainStarted) / 1000;
  await fleet.stop();
  const end = procMemory(gw.pid);
  const stopped = await gw.stop();
  const check = await verifyTopic(cluster.bootstrap, topic, fleet.ledger);

  const inWindow = (a, b) => samples.filter((s) => s.t >= a && s.t <= b);
  const base = inWindow(warmupS, warmupS + WINDOW_S);
  const last = inWindow(durationS - WINDOW_S, durationS);
  const growth = (key) => median(last.map((s) => s[key])) / median(base.map((s) => s[key])) - 1;
  const rssGrowth = growth('rssMiB');
  console.log(
    `\nsoak over ${opts.minutes} min: ${faults.filter((f) => f.kind === 'outage').length} Kafka outages, ` +
      `${faults.filter((f) => f.kind === 'storm').length} reconnect storms; ${fleet.ledger.publishedCount} published, ` +
      `${check.acked} PUBACKed, ${check.unique} distinct in Kafka (${check.messages} messages), ${check.lost} ` +
      `PUBACKed missing, ${check.duplicates} duplicates; ${unsettled} publishes unanswered at the end; drained ` +
      `in ${drainS.toFixed(1)} s (queue lag max ${Math.max(...samples.map((s) => s.lag))} during the run); gateway ` +
      `stopped with ${stopped.code ?? stopped.signal}`,
  );
  console.log(
    `RSS: ${median(base.map((s) => s.rssMiB)).toFixed(1)} MiB after warm-up, ${median(last.map((s) => s.rssMiB)).toFixed(1)} ` +
      `MiB in the last minute (max ${Math.max(...samples.map((s) => s.rssMiB)).toFixed(1)}); anonymous ` +
      `${(growth('rssAnonMiB') * 100).toFixed(1)}%, V8 heap used ${(growth('heapMiB') * 100).toFixed(1)}%; open fds ${median(base.map((s) => s.fds))} -> ` +
      `${median(last.map((s) => s.fds))} (max ${Math.max(...samples.map((s) => s.fds))}, ${end.fds} at the end)`,
  );
  for (const p of check.problems) console.log(`  PROBLEM ${p}`);
  const goals = [
    goal('RSS growth after warm-up, % (< 10)', rssGrowth * 100, '<=', 10, 1),
    goal('PUBACKed readings missing in Kafka (0)', check.lost, '<=', 0, 0),
    goal('problems in the read-back (0)', check.problems.length, '<=', 0, 0),
  ];
  if (opts.chart) writeFileSync(opts.chart, chart(samples, faults));
  const series = (key) => samples.map((s) => ({ x: s.t, y: s[key] }));
  record('soak', {
    params: { minutes: Number(opts.minutes), clients, rate, outageEvery, outageS, stormEvery, warmupS },
    figures: [
      figure('rss_growth_pct', 'RSS growth after warm-up', rssGrowth * 100, '%'),
      figure('rss_anon_growth_pct', 'anonymous RSS growth after warm-up', growth('rssAnonMiB') * 100, '%'),
      figure('heap_growth_pct', 'V8 heap used growth after warm-up', growth('heapMiB') * 100, '%'),
      figure('acked', 'PUBACKed readings', check.acked, 'readings'),
      figure('lost', 'PUBACKed readings missing in Kafka', check.lost, 'readings'),
      figure('duplicates', 'duplicates in Kafka', check.duplicates, 'readings'),
      figure('fds_max', 'open fds, max', Math.max(...samples.map((s) => s.fds)), 'fds'),
    ],
    goals,
    series: {
      rss_mib: series('rssMiB'),
      rss_anon_mib: series('rssAnonMiB'),
      heap_used_mib: series('heapMiB'),
      fds: series('fds'),
      lag: series('lag'),
    },
    notes: faults.map((f) => `${f.kind} at ${f.at} s (${f.s} s)`),
  });
  exitCode = goals.every((g) => g.met) ? 0 : 1;
  console.log(exitCode === 0 ? 'PASS' : 'FAIL');
} finally {
  // On a failure midway: nothing of this run may outlive it.
  await fleet?.stop();
  await gw?.kill9();
  for (const p of proxies) await p.close();
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
