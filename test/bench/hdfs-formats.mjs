// File size and CPU per reading of the HDFS sink's formats, encoded exactly as the sink encodes them (the
// per-file encoders of dist/gateway/sinks/hdfs/, one take() per upload_buffer_bytes of text, then the file's
// end), on typical readings: a few devices and metrics, float values, a few with a string state, tags on
// each. No HDFS here: this is what the format costs the gateway's CPU and the cluster's disk. The peer is
// jsonl + gzip (what downstream got before), measured in the same run; each figure is the median of RUNS
// runs with its range. CPU is process.cpuUsage() (user + system, all threads: zlib's pool counts).
// Goal, set before measuring: parquet at most 1.0x the bytes of jsonl.gz and at most 2.0x its CPU.
// Run: npm run build && node test/bench/hdfs-formats.mjs [readings=200000] [runs=5]
import { encoder } from '../../dist/gateway/sinks/hdfs/encode.js';
import { figure, goal, record } from './results.mjs';

const N = Number(process.argv[2] ?? 200_000);
const RUNS = Number(process.argv[3] ?? 5);
const UPLOAD = 4 * 1024 * 1024; // upload_buffer_bytes' default: one row group / block / gzip member per upload
const GOAL = { bytes: 1.0, cpu: 2.0 };

const DEVICES = ['boiler-1', 'boiler-2', 'pump-a', 'pump-b', 'meter-7'];
const METRICS = [
  ['temperature', 'C'],
  ['pressure', 'bar'],
  ['flow', 'm3/h'],
  ['state', undefined],
];

/** Reading i: a sensor sampled every second, a noisy float; the state metric is a string. */
function reading(i) {
  const d = DEVICES[i % DEVICES.length];
  const [metric, unit] = METRICS[Math.floor(i / DEVICES.length) % METRICS.length];
  const value =
    metric === 'state'
      ? ['running', 'idle', 'fault'][i % 3]
      : Math.round((50 + 20 * Math.sin(i / 500) + ((i * 7919) % 1000) / 1000) * 1000) / 1000;
  return {
    seq: i + 1,
    device: d,
    metric,
    value,
    ...(unit === undefined ? {} : { unit }),
    ts: 1_764_633_600_000 + Math.floor(i / 20) * 1000,
    source: 'mqtt',
    tags: { site: 'plant-north', line: `L${i % 3}` },
  };
}

const data = Array.from({ length: N }, (_, i) => reading(i));

const CASES = [
  ['jsonl', 'gzip'],
  ['csv', 'gzip'],
  ['parquet', 'snappy'],
  ['parquet', 'gzip'],
  ['avro', 'deflate'],
  ['jsonl', 'none'],
];

/** One file per UPLOAD... as the sink writes: add, take() at each upload_buffer_bytes, end(). */
async function once(format, compression) {
  const enc = encoder(format, compression, 'gw-bench');
  const before = process.cpuUsage();
  const f = enc.open();
  let pending = f.startBytes;
  let bytes = 0;
  for (const r of data) {
    pending += f.add(r);
    if (pending >= UPLOAD) {
      bytes += (await f.take()).length;
      pending = 0;
    }
  }
  bytes += (await f.take()).length;
  bytes += (await f.end()).length;
  const cpu = process.cpuUsage(before);
  return { bytes: bytes / N, cpuUs: (cpu.user + cpu.system) / N };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (xs, d) =>
  `${median(xs).toFixed(d)} [${Math.min(...xs).toFixed(d)}..${Math.max(...xs).toFixed(d)}]`;

console.log(
  `hdfs-formats: ${N} readings, ${RUNS} runs (median [min..max]), uploads of ${UPLOAD} bytes of text`,
);
console.log('machine shared with parallel work: CPU figures are noisy, compare within this run only');
for (const [f, c] of CASES) await once(f, c); // warm up every code path once
const results = new Map();
for (let run = 0; run < RUNS; run++) {
  for (const [f, c] of CASES) {
    const key = `${f}+${c}`;
    const r = await once(f, c);
    const got = results.get(key) ?? { bytes: [], cpuUs: [] };
    got.bytes.push(r.bytes);
    got.cpuUs.push(r.cpuUs);
    results.set(key, got);
  }
}
const peer = results.get('jsonl+gzip');
const peerBytes = median(peer.bytes);
const peerCpu = median(peer.cpuUs);
console.log(
  `${'format'.padEnd(16)} ${'bytes/reading'.padEnd(22)} ${'CPU us/reading'.padEnd(22)} bytes vs jsonl.gz  CPU vs jsonl.gz`,
);
for (const [key, r] of results) {
  console.log(
    `${key.padEnd(16)} ${fmt(r.bytes, 2).padEnd(22)} ${fmt(r.cpuUs, 2).padEnd(22)} ${(median(r.bytes) / peerBytes).toFixed(2).padStart(8)}x ${(median(r.cpuUs) / peerCpu).toFixed(2).padStart(14)}x`,
  );
}
const pq = results.get('parquet+snappy');
const bytesRatio = median(pq.bytes) / peerBytes;
const cpuRatio = median(pq.cpuUs) / peerCpu;
console.log(
  `parquet+snappy vs jsonl+gzip: bytes ${bytesRatio.toFixed(2)}x (goal <= ${GOAL.bytes}x) ${bytesRatio <= GOAL.bytes ? 'MET' : 'NOT MET'}; ` +
    `CPU ${cpuRatio.toFixed(2)}x (goal <= ${GOAL.cpu}x) ${cpuRatio <= GOAL.cpu ? 'MET' : 'NOT MET'}`,
);
record('hdfs-formats', {
  figures: [...results].flatMap(([key, r]) => [
    figure(`${key}.bytes`, `${key} size`, r.bytes, 'bytes/reading'),
    figure(`${key}.cpu`, `${key} CPU`, r.cpuUs, 'µs/reading'),
  ]),
  goals: [
    goal(`parquet+snappy bytes <= ${GOAL.bytes}x jsonl+gzip`, bytesRatio, '<=', GOAL.bytes),
    goal(`parquet+snappy CPU <= ${GOAL.cpu}x jsonl+gzip`, cpuRatio, '<=', GOAL.cpu),
  ],
  params: { readings: N, runs: RUNS, uploadBytes: UPLOAD },
});
