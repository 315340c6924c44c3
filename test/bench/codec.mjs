// Which CBOR layout for queue entries: a plain map, cbor-x records (with a structure table shared across
// entries, as LMDB would have to persist it), or the positional array Sluice uses. Prints bytes per entry
// and encode+decode throughput (median of RUNS passes). Run: node test/bench/codec.mjs [n=200000] [runs=3]
import { Decoder, Encoder } from 'cbor-x';
import { figure, record } from './results.mjs';

const N = Number(process.argv[2] ?? 200_000);
const RUNS = Number(process.argv[3] ?? 3);
const readings = Array.from({ length: 1000 }, (_, i) => ({
  device: `sensor-${i % 50}`,
  metric: ['temperature', 'humidity', 'pressure'][i % 3],
  value: Math.round((20 + Math.sin(i) * 5) * 100) / 100,
  unit: ['C', '%', 'hPa'][i % 3],
  ts: 1_763_700_000_000 + i * 1000,
  source: 'mqtt',
}));
const at = 1_763_700_000_123;

const plain = new Encoder({ useRecords: false, mapsAsObjects: true });
const plainDec = new Decoder({ useRecords: false, mapsAsObjects: true });
const structures = [];
const rec = new Encoder({ useRecords: true, structures, mapsAsObjects: true });
const recDec = new Decoder({ useRecords: true, structures, mapsAsObjects: true });

const layouts = {
  'map {appendedAt, ...reading}': {
    enc: (r) => plain.encode({ appendedAt: at, ...r }),
    dec: (b) => plainDec.decode(b),
  },
  'records (shared structures)': {
    enc: (r) => rec.encode({ appendedAt: at, ...r }),
    dec: (b) => recDec.decode(b),
  },
  'positional array (Sluice)': {
    enc: (r) =>
      plain.encode([1, at, r.device, r.metric, r.value, r.ts, r.source, r.unit ?? null, r.tags ?? null]),
    dec: (b) => plainDec.decode(b),
  },
};

console.log(`cbor-x entry layouts, ${N.toLocaleString('en-US')} encode+decode each, node ${process.version}`);
console.log('layout                         | bytes/entry | encode+decode per s');
const figures = [];
for (const [name, { enc, dec }] of Object.entries(layouts)) {
  let bytes = 0;
  for (const r of readings) bytes += enc(r).length;
  const rates = [];
  for (let run = 0; run < RUNS; run++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) dec(enc(readings[i % readings.length]));
    rates.push(N / (Number(process.hrtime.bigint() - t) / 1e9));
  }
  const rate = figure(`${name}.rate`, `${name}: encode+decode`, rates, 'entries/s');
  figures.push(figure(`${name}.bytes`, `${name}: size`, bytes / readings.length, 'bytes/entry'), rate);
  console.log(
    `${name.padEnd(30)} | ${(bytes / readings.length).toFixed(1).padStart(11)} | ${Math.round(rate.value)
      .toLocaleString('en-US')
      .padStart(19)}`,
  );
}
console.log(
  'note: records only pay off with a structure table that must be stored and kept in step with every entry;',
);
console.log('the positional array needs none and is the smallest.');
record('codec', { figures, params: { n: N, runs: RUNS } });
