// Setup step: the npm packages with a native part that `npm ci` cannot be trusted to leave loadable.
// `kerberos` (optional, for the HDFS sink's auth.type kerberos): `npm ci` runs before the Debian step, so on
// a fresh machine its build found no headers and npm dropped it; once the Debian step has installed them
// (libkrb5-dev) it is built here. `better-sqlite3` (the sql source): built for one Node ABI (not N-API), so
// the CI's second pass on Node 24 finds the Node 20 build; it is rebuilt here for the Node that runs.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { SetupError, run, tail } from './lib.mjs';

/** Each package: what it needs from Debian, for the message when it still does not build. */
/** `probe`: code that loads the native part (better-sqlite3 loads it on the first database, not on require). */
export const NATIVE = [
  { name: 'kerberos', needs: 'libkrb5-dev g++ make python3', probe: `require('kerberos')` },
  {
    name: 'better-sqlite3',
    needs: 'g++ make python3',
    probe: `new (require('better-sqlite3'))(':memory:').close()`,
  },
];

/** In a fresh node (this process's module cache would remember a failed load after a rebuild), this one. */
async function loads(root, n) {
  const r = await run(process.execPath, ['-e', n.probe], { cwd: root });
  return r.code === 0;
}

/** @param {import('./index.mjs').Context} ctx */
export async function nativeStep(ctx) {
  const pkg = JSON.parse(readFileSync(join(ctx.root, 'package.json'), 'utf8'));
  for (const n of NATIVE) {
    const spec = pkg.optionalDependencies?.[n.name] ?? pkg.dependencies?.[n.name];
    if (spec === undefined) continue;
    await ctx.timed(`native package ${n.name}`, () => ensure(ctx, n, spec));
  }
}

/** The version package-lock.json pins for a top-level package, if it does. */
function lockedVersion(root, name) {
  try {
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
    return lock.packages?.[`node_modules/${name}`]?.version;
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * node-gyp builds for the Node whose headers it finds, not always the one running (npm's scripts may run it
 * on another Node on PATH, and without headers it downloads them from nodejs.org, which these machines do
 * not reach): point it at the headers of the Node that runs, where that Node ships them (Debian's in /usr,
 * the npm registry's `node` package in its own prefix).
 */
function buildEnv() {
  const prefix = dirname(dirname(process.execPath));
  // The npm registry's `node` package keeps its binary's headers in the platform package beside it.
  const candidates = [prefix, join(prefix, 'node_modules', `node-${process.platform}-${process.arch}`)];
  const nodedir = candidates.find((dir) => existsSync(join(dir, 'include', 'node', 'node_version.h')));
  return nodedir === undefined ? process.env : { ...process.env, npm_config_nodedir: nodedir };
}

async function ensure(ctx, n, spec) {
  if (await loads(ctx.root, n)) return 'loads';
  if (ctx.check) {
    ctx.missing();
    return 'missing or not built';
  }
  await ctx.lock();
  if (await loads(ctx.root, n)) return 'loads (built by another setup)';
  const present = existsSync(join(ctx.root, 'node_modules', n.name, 'package.json'));
  // --no-save: package.json and the lock file already name it; only node_modules lacks it. The version
  // the lock file holds, not the newest the range allows, so every machine builds the same one.
  const args = present
    ? ['rebuild', n.name]
    : [
        'install',
        '--no-save',
        '--no-audit',
        '--no-fund',
        `${n.name}@${lockedVersion(ctx.root, n.name) ?? spec}`,
      ];
  const r = await run('npm', args, { cwd: ctx.root, env: buildEnv() });
  if (r.code !== 0 || !(await loads(ctx.root, n))) {
    throw new SetupError('SETUP_NATIVE_BUILD', `the optional package ${n.name} does not build`, {
      hint: `it needs the Debian packages ${n.needs} (the Debian step installs them); the command: npm ${args.join(' ')}`,
      detail: tail(r.output),
    });
  }
  return present ? 'rebuilt' : 'installed and built';
}
