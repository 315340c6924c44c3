// Setup step 3: the test helpers written in C, compiled once here instead of lazily inside test workers.
// Outputs go to test/.peers/ (git-ignored); a helper is rebuilt only when its source is newer.
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { SetupError, run, tail } from './lib.mjs';

/**
 * Each helper: its source, the binary (the path its test-side code expects) and the pkg-config libraries it
 * links. test/peers/kafka-mock/index.ts starts kafka-mock-cluster.
 */
export const HELPERS = [
  {
    name: 'kafka-mock-cluster',
    source: 'test/peers/kafka-mock/mock-cluster.c',
    output: 'test/.peers/kafka-mock-cluster',
    pkgConfig: ['rdkafka'],
  },
];

function mtimeMs(path) {
  return existsSync(path) ? statSync(path).mtimeMs : undefined;
}

/** @param {import('./index.mjs').Context} ctx */
export async function gccStep(ctx) {
  for (const helper of HELPERS) await ctx.timed(`gcc helper ${helper.name}`, () => build(ctx, helper));
}

async function build(ctx, helper) {
  const source = join(ctx.root, helper.source);
  const output = join(ctx.root, helper.output);
  const sourceTime = mtimeMs(source);
  if (sourceTime === undefined) {
    throw new SetupError('SETUP_HELPER_SOURCE', `${helper.source} is missing`, {
      hint: 'git status shows why',
    });
  }
  const fresh = () => (mtimeMs(output) ?? -1) >= sourceTime;
  if (fresh()) return 'up to date';
  if (ctx.check) {
    ctx.missing();
    return existsSync(output) ? 'older than its source' : 'not built';
  }
  await ctx.lock();
  if (fresh()) return 'up to date (built by another setup)';
  const flags = await run('pkg-config', ['--cflags', '--libs', ...helper.pkgConfig]);
  if (flags.code !== 0) {
    throw new SetupError('SETUP_HELPER_BUILD', `pkg-config knows no ${helper.pkgConfig.join(', ')}`, {
      hint: 'the Debian packages step installs pkg-config and librdkafka-dev (or run apt-get install them)',
      detail: tail(flags.output),
    });
  }
  mkdirSync(dirname(output), { recursive: true });
  // Compiled to a temp name and renamed (atomic): a test never starts half a binary.
  const temp = `${output}.${process.pid}.tmp`;
  try {
    const args = ['-O2', '-Wall', '-o', temp, source, ...flags.output.trim().split(/\s+/).filter(Boolean)];
    const gcc = await run('gcc', args);
    if (gcc.code !== 0) {
      throw new SetupError('SETUP_HELPER_BUILD', `gcc could not build ${helper.name}`, {
        hint: `the command: gcc ${args.join(' ')}`,
        detail: tail(gcc.output),
      });
    }
    renameSync(temp, output);
  } finally {
    rmSync(temp, { force: true });
  }
  return `built ${helper.output}`;
}
