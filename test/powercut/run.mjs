// The power-cut test (`npm run test:powercut`): proves that a PUBACK survives power loss, which a SIGKILL
// cannot (the page cache outlives a killed process). The gateway runs in a qemu guest with its data on a
// virtio disk (cache=none: the guest's writes bypass the host's page cache); QoS 1 publishers in the guest
// print every PUBACKed id on the serial console, which this host records; the host kills qemu at a random
// moment after publishing started, several rounds on the same disk; a last boot drains the queue into files
// on that disk, and every PUBACKed id must be there, none twice. `--no-fsync` runs the same with the queue's
// fsyncs skipped, and must FAIL: the proof that the test can see a lost acknowledgement.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { readPackageList } from '../setup/debian.mjs';
import { PowercutError, buildInitramfs, copyOut, createDisk, fetchKernel } from './image.mjs';
import { boot } from './qemu.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const USAGE = `usage: node test/powercut/run.mjs [options]
  --rounds N        power cuts on the same disk before the drain (default 3)
  --seconds S       each cut comes at a random moment 1..S s after the first PUBACK (default 20)
  --short           one round, cut within 10 s (what npm test would run)
  --no-fsync        the queue without fsync: must FAIL (shows the test sees lost acknowledgements)
  --publishers P    QoS 1 clients in the guest (default 4), --window W messages in flight each (default 16)
  --smp N           guest CPUs (default 2), --memory MiB (default 1024)
  --seed N          for the cut moments (default: random, printed)
  --work-dir DIR    where the disk image, initramfs and console logs go (default: a new dir in ${tmpdir()})
  --keep            keep the work dir after a PASS too
  --no-setup        do not check the Debian packages (test/powercut/debian-packages.txt)
  --probe           only boot once and print how long node takes to start in the guest
  --boot-timeout S  a guest that has not started publishing (or draining) after S s is an error (default 900)
exit status: 0 PASS, 1 FAIL (a PUBACKed reading lost or repeated), 2 the test could not run`;

function say(line) {
  process.stdout.write(`powercut: ${line}\n`);
}

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '20' },
      short: { type: 'boolean', default: false },
      'no-fsync': { type: 'boolean', default: false },
      publishers: { type: 'string', default: '4' },
      window: { type: 'string', default: '16' },
      smp: { type: 'string', default: '2' },
      memory: { type: 'string', default: '1024' },
      seed: { type: 'string' },
      'work-dir': { type: 'string' },
      keep: { type: 'boolean', default: false },
      'no-setup': { type: 'boolean', default: false },
      'boot-timeout': { type: 'string', default: '900' },
      probe: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const int = (name, min) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min)
      throw new PowercutError(`--${name} ${values[name]}: expected an integer >= ${min}`);
    return n;
  };
  return {
    help: values.help,
    rounds: values.short ? 1 : int('rounds', 1),
    seconds: values.short ? 10 : int('seconds', 1),
    noFsync: values['no-fsync'],
    publishers: int('publishers', 1),
    window: int('window', 1),
    smp: int('smp', 1),
    memory: int('memory', 256),
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', 0),
    workDir: values['work-dir'],
    keep: values.keep,
    setup: !values['no-setup'],
    bootTimeout: int('boot-timeout', 10),
    probe: values.probe,
  };
}

/** mulberry32: the cut moments, reproducible from the printed seed. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The packages through the project's setup: as root or sudo -n, else it prints the line to run and fails. */
function setupPackages() {
  const names = readPackageList(join(ROOT, 'test/powercut/debian-packages.txt')).map((p) => p.name);
  const r = spawnSync(process.execPath, [join(ROOT, 'test/setup/index.mjs'), '--only=debian'], {
    stdio: 'inherit',
    env: { ...process.env, SLUICE_SETUP_DEBIAN_PACKAGES: names.join(' ') },
  });
  if (r.status !== 0)
    throw new PowercutError('the Debian packages are not there (the setup said why, above)');
}

const fmt = (n) => n.toLocaleString('en-US');
const s1 = (x) => (x === undefined ? '-' : `${x.toFixed(1)} s`);

let current; // the qemu running now, killed if this process is interrupted
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    current?.kill();
    process.exit(2);
  });
}

async function round(ctx, n, rnd) {
  const t = {};
  let fail;
  const guest = boot({
    ...ctx.guest,
    append: `pc.mode=round pc.round=${n} pc.nosync=${ctx.noFsync ? 1 : 0} pc.publishers=${ctx.publishers} pc.window=${ctx.window}`,
    logFile: join(ctx.workDir, `round-${n}.log`),
    onLine: (line, at) => {
      if (line.startsWith('@boot')) t.boot = at;
      else if (line.startsWith('@mounted')) t.mounted = at;
      else if (line.includes('"msg":"gateway started"')) t.gateway ??= at;
      else if (line.startsWith('@connected')) t.connected ??= at;
      else if (line.startsWith('@fail')) {
        fail = line;
        guest.kill();
      }
    },
    onAck: (_id, at) => {
      if (t.firstAck !== undefined) return;
      t.firstAck = at;
      const delay = 1 + rnd() * (ctx.seconds - 1);
      t.cutAfter = delay;
      setTimeout(() => {
        t.cut = guest.since();
        guest.kill();
      }, delay * 1000);
    },
  });
  current = guest;
  const timeout = setTimeout(() => {
    fail = `no PUBACK within --boot-timeout ${ctx.bootTimeout} s`;
    guest.kill();
  }, ctx.bootTimeout * 1000);
  const result = await guest.exited;
  clearTimeout(timeout);
  current = undefined;
  if (result.error)
    throw new PowercutError(`qemu-system-x86_64: ${result.error.message}`, 'apt-get install qemu-system-x86');
  if (fail)
    throw new PowercutError(
      `round ${n}: ${fail}`,
      `the guest's console is in ${join(ctx.workDir, `round-${n}.log`)}`,
    );
  if (t.cut === undefined) {
    throw new PowercutError(
      `round ${n}: qemu exited by itself (code ${result.code}) before the cut:\n${result.stderr.trim()}`,
      `the guest's console is in ${join(ctx.workDir, `round-${n}.log`)}`,
    );
  }
  return { round: n, ...t, acks: result.acks, repeated: result.repeated, garbled: result.garbled };
}

async function drain(ctx) {
  let queue;
  let drained;
  let off = false;
  let fail;
  const logFile = join(ctx.workDir, 'drain.log');
  const guest = boot({
    ...ctx.guest,
    append: 'pc.mode=drain',
    logFile,
    onLine: (line) => {
      if (line.startsWith('@queue ')) queue = JSON.parse(line.slice(7));
      else if (line.startsWith('@drained ')) drained = JSON.parse(line.slice(9));
      else if (line.startsWith('@off')) off = true;
      else if (line.startsWith('@fail')) fail = line;
    },
  });
  current = guest;
  // Generous: draining is the gateway reading everything back, under emulation.
  const timeout = setTimeout(() => {
    fail = `the drain did not finish within ${ctx.bootTimeout * 3} s`;
    guest.kill();
  }, ctx.bootTimeout * 3000);
  const result = await guest.exited;
  clearTimeout(timeout);
  current = undefined;
  return { queue, drained, off, fail, seconds: result.seconds, logFile };
}

/** One boot that times node's start in the guest (init.sh's probe mode). */
async function probe(ctx) {
  let off = false;
  const guest = boot({
    ...ctx.guest,
    append: 'pc.mode=probe',
    logFile: join(ctx.workDir, 'probe.log'),
    onLine: (line, at) => {
      if (line.startsWith('@boot') || line.startsWith('@mounted'))
        say(`${line.split(' ')[0].slice(1)} at ${s1(at)}`);
      else if (line.startsWith('@probe ')) say(line.slice(7));
      else if (line.startsWith('@fail')) say(line);
      else if (line.startsWith('@off')) off = true;
    },
  });
  current = guest;
  await guest.exited;
  current = undefined;
  rmSync(ctx.guest.initrd, { force: true });
  return off ? 0 : 2;
}

/** Every reading in the drained files: id (device:value) -> how often. Hidden names are unfinished files. */
function readDrained(dir) {
  const counts = new Map();
  let files = 0;
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    if (name.startsWith('.')) continue;
    files += 1;
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line === '') continue;
      const r = JSON.parse(line);
      const id = `${r.device}:${r.value}`;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return { counts, files };
}

async function main(argv) {
  const started = performance.now();
  const o = options(argv);
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (o.setup) setupPackages();
  if (!existsSync(join(ROOT, 'dist/gateway/cli/main.js')))
    throw new PowercutError('no dist/: the gateway is not built', 'npm run build');
  const workDir = o.workDir ? resolve(o.workDir) : mkdtempSync(join(tmpdir(), 'sluice-powercut-'));
  mkdirSync(workDir, { recursive: true });
  say(
    `${o.rounds} round(s), cut 1..${o.seconds} s after the first PUBACK, fsync ${o.noFsync ? 'OFF (must FAIL)' : 'on'}, ` +
      `${o.publishers} publishers x ${o.window} in flight, seed ${o.seed}, work dir ${workDir}`,
  );
  const k = fetchKernel(join(ROOT, '.cache', 'powercut'), say);
  const initrd = join(workDir, 'initrd.cpio');
  const disk = join(workDir, 'disk.img');
  let since = performance.now();
  const image = buildInitramfs({ root: ROOT, modulesDir: k.modules, out: initrd });
  createDisk(disk, 1024);
  say(
    `kernel ${k.pkg}; initramfs ${(image.bytes / 2 ** 20).toFixed(0)} MiB (${fmt(image.files)} files, node ${process.version}); ` +
      `ext4 disk 1 GiB (${((performance.now() - since) / 1000).toFixed(1)} s)`,
  );
  const ctx = {
    ...o,
    workDir,
    guest: { kernel: k.kernel, initrd, disk, smp: o.smp, memoryMib: o.memory },
  };

  if (o.probe) return probe(ctx);

  const rnd = random(o.seed);
  const rounds = [];
  const acked = new Set();
  for (let n = 1; n <= o.rounds; n++) {
    const r = await round(ctx, n, rnd);
    for (const id of r.acks) acked.add(id);
    rounds.push(r);
    say(
      `round ${n}: kernel up ${s1(r.boot)}, disk mounted ${s1(r.mounted)}, gateway started ${s1(r.gateway)}, ` +
        `first PUBACK ${s1(r.firstAck)}; cut ${s1(r.cut - r.firstAck)} after it (at ${s1(r.cut)}); ${fmt(r.acks.size)} PUBACKed` +
        (r.repeated + r.garbled > 0 ? ` (${r.repeated} printed twice, ${r.garbled} garbled lines)` : ''),
    );
  }

  since = performance.now();
  const d = await drain(ctx);
  const out = join(workDir, 'out');
  let found = { counts: new Map(), files: 0 };
  if (d.off) {
    copyOut(disk, '/out', out);
    found = readDrained(join(out, 'out'));
  }
  say(
    d.off
      ? `drain: ${fmt(d.queue?.depth ?? 0)} readings in the queue, drained into ${found.files} file(s) in ${s1(d.seconds)}`
      : `drain FAILED: ${d.fail ?? 'the guest stopped without powering off'} (console: ${d.logFile})`,
  );

  const missing = [...acked].filter((id) => !found.counts.has(id));
  const duplicates = [...found.counts].filter(([, c]) => c > 1).map(([id]) => id);
  const unacked = [...found.counts.keys()].filter((id) => !acked.has(id)).length;
  const byRound = rounds.map((r) => [...r.acks].filter((id) => !found.counts.has(id)).length);
  const pass = d.off && missing.length === 0 && duplicates.length === 0;
  say(
    `rounds ${o.rounds}, PUBACKed ${fmt(acked.size)}, found ${fmt(acked.size - missing.length)}, missing ${fmt(missing.length)}` +
      ` (by round: ${byRound.join(', ')}), duplicates ${fmt(duplicates.length)}; stored without a PUBACK the host saw: ${fmt(unacked)}`,
  );
  if (missing.length > 0) say(`missing, first ones: ${missing.slice(0, 10).join(' ')}`);
  if (duplicates.length > 0) say(`duplicated, first ones: ${duplicates.slice(0, 10).join(' ')}`);
  const summary = {
    pass,
    noFsync: o.noFsync,
    seed: o.seed,
    rounds: rounds.map((r) => ({ ...r, acks: r.acks.size })),
    drain: { ...d, drainSeconds: (performance.now() - since) / 1000 },
    pubacked: acked.size,
    missing: missing.length,
    duplicates: duplicates.length,
    storedUnacked: unacked,
    totalSeconds: (performance.now() - started) / 1000,
  };
  writeFileSync(join(workDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  rmSync(initrd, { force: true }); // rebuilt every run
  if (pass && !o.keep) rmSync(workDir, { recursive: true, force: true });
  else say(`kept ${workDir} (disk.img, console logs, summary.json)`);
  say(`${pass ? 'PASS' : 'FAIL'} (${s1(summary.totalSeconds)} in all)`);
  return pass ? 0 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof PowercutError) && !(err?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')) throw err;
  process.stderr.write(
    `powercut: cannot run: ${err.message}\n${err instanceof PowercutError ? '' : `${USAGE}\n`}`,
  );
  process.exitCode = 2;
}
