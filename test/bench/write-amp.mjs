// Write amplification of the durable queue (issue 21): bytes the gateway process sent to the disk
// (/proc/PID/io write_bytes, all threads; wchar beside it) per reading acknowledged, during steady MQTT QoS 1
// ingest, against the reading's encoded size in the queue (CBOR via cbor-x: queue bytes / depth). The SD card
// wear figure. For each commit_mode (inline, background, auto) and two loads: `burst` (8 clients x 32 in
// flight, as fast as PUBACKs come: big group commits) and `field` (100 devices, 2 readings/s each, each
// awaited: the commits a real gateway makes, a few readings each). No sink: only the queue writes.
// The amplification is from wchar (bytes the process passed to write(): LMDB's pages and meta page and the
// disk guard's reserve; a lower bound, the file system's journal comes on top); write_bytes is printed too but
// overstates on kernels whose page cache uses large folios (see `amp` below). write_bytes counts what reaches the block layer, so the data directory must be on a real filesystem
// (tmpfs counts 0: the bench then says so and reports wchar only).
// Run: npm run build && node test/bench/write-amp.mjs [--runs 3] [--seconds 10] [--modes inline,background,auto]
//      [--loads burst,field] [--dir /path/on/disk]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startGateway, mqttLoad } from './mqtt-load.mjs';
import { procIo } from './proc-mem.mjs';
import { figure, goal, loadText, median, range, record } from './results.mjs';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'inline,background,auto' },
    loads: { type: 'string', default: 'burst,field' },
    dir: { type: 'string', default: tmpdir() },
  },
});

const LOADS = {
  burst: { clients: 8, window: 32, label: '8 clients x 32 in flight' },
  field: { clients: 100, ratePerClient: 2, label: '100 devices x 2 readings/s' },
};
const PAGE = 4096; // LMDB's page size here (the OS page size)

const results = [];
const load0 = loadText();
for (const loadName of opts.loads.split(',')) {
  for (const mode of opts.modes.split(',')) {
    for (let r = 0; r < Number(opts.runs); r++) results.push(await once(loadName, mode));
  }
}

const figures = [];
const goals = [];
const notes = [];
console.log(
  `\n${'load'.padEnd(28)}${'mode'.padEnd(12)}${'readings/s'.padStart(11)}${'B/reading'.padStart(11)}${'wchar B/r'.padStart(11)}${'encoded B'.padStart(11)}${'amp'.padStart(8)}${'readings/commit'.padStart(17)}${'pages/commit'.padStart(14)}  mode after`,
);
let zeroWrites = false;
for (const loadName of opts.loads.split(',')) {
  for (const mode of opts.modes.split(',')) {
    const rs = results.filter((x) => x.load === loadName && x.mode === mode);
    const m = (k) => median(rs.map((x) => x[k]));
    const [lo, hi] = range(rs.map((x) => x.amp));
    zeroWrites ||= rs.some((x) => x.writeBytes === 0);
    console.log(
      `${LOADS[loadName].label.padEnd(28)}${mode.padEnd(12)}${m('rate').toFixed(0).padStart(11)}${m('perReading').toFixed(0).padStart(11)}${m('wcharPerReading').toFixed(0).padStart(11)}${m('encoded').toFixed(0).padStart(11)}${`${m('amp').toFixed(1)}x`.padStart(8)}${m('perCommit').toFixed(1).padStart(17)}${m('pagesPerCommit').toFixed(1).padStart(14)}  ${rs.map((x) => x.modeAfter).join(',')}  (amp ${lo.toFixed(1)}-${hi.toFixed(1)})`,
    );
    const key = `${loadName}_${mode}`;
    figures.push(
      figure(
        `amp_${key}`,
        `write amplification, ${LOADS[loadName].label}, ${mode}`,
        rs.map((x) => x.amp),
        'x',
      ),
    );
    figures.push(
      figure(
        `bytes_per_reading_${key}`,
        `disk bytes per reading, ${LOADS[loadName].label}, ${mode}`,
        rs.map((x) => x.perReading),
        'B',
      ),
    );
    figures.push(
      figure(
        `readings_per_commit_${key}`,
        `readings per commit, ${LOADS[loadName].label}, ${mode}`,
        rs.map((x) => x.perCommit),
        'readings',
      ),
    );
    goals.push(
      goal(`write amplification ${LOADS[loadName].label}, commit_mode ${mode} <= 3x`, m('amp'), '<=', 3, 1),
    );
  }
}
if (zeroWrites) {
  const msg = `write_bytes stayed 0: ${opts.dir} is on a filesystem without a block device (tmpfs?); the amplification above is meaningless, use --dir on a disk`;
  console.log(msg);
  notes.push(msg);
}
notes.push(
  `LMDB page ${PAGE} B: a commit rewrites at least the leaf page it appends to, the branch pages above it, a meta page and the freelist pages, whatever the number of readings in it`,
);
console.log(`load average: ${load0} at start, ${loadText()} at end`);
record('write-amp', {
  figures,
  goals,
  notes,
  params: { runs: opts.runs, seconds: opts.seconds, dir: opts.dir },
});

async function once(loadName, mode) {
  const dir = mkdtempSync(join(opts.dir, 'sluice-amp-'));
  const gw = await startGateway({ dir, args: ['--commit-mode', mode] });
  let io0;
  let io1;
  let s0;
  let s1;
  try {
    const res = await mqttLoad({
      port: gw.port,
      ...LOADS[loadName],
      warmupMs: Number(opts.warmup) * 1000,
      measureMs: Number(opts.seconds) * 1000,
      onWindow: async (phase) => {
        if (phase === 'start') {
          s0 = (await gw.stats()).stats;
          io0 = procIo(gw.pid);
        } else {
          io1 = procIo(gw.pid);
          s1 = (await gw.stats()).stats;
        }
      },
    });
    // Readings the queue took in the window (PUBACKs counted by the load are the same, give or take the
    // messages in flight at either edge).
    const readings = s1.lastSeq - s0.lastSeq;
    const writeBytes = io1.write_bytes - io0.write_bytes;
    const wchar = io1.wchar - io0.wchar;
    const encoded = s1.bytes / s1.depth;
    const commits = s1.commits - s0.commits;
    return {
      load: loadName,
      mode,
      rate: res.rate,
      writeBytes,
      perReading: writeBytes / readings,
      wcharPerReading: wchar / readings,
      encoded,
      // wchar, not write_bytes: on this kernel (6.18, ext4 large folios) write_bytes counts a whole folio (up
      // to 2 MiB) per dirtied 4 KiB page: measured 2,097,152 B per 4 KiB pwrite + fdatasync.
      amp: wchar / readings / encoded,
      ampBlock: writeBytes / readings / encoded,
      perCommit: readings / commits,
      pagesPerCommit: writeBytes / commits / PAGE,
      modeAfter: s1.commitMode,
    };
  } finally {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
