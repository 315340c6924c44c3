// Which machine the native parts in node_modules are for, by `file`, and which ones the emulated Node
// really loads (read from its /proc/self/maps by probe-native.cjs).
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SetupError, tail } from '../setup/lib.mjs';
import { capture, cleanEnv, fileTypes } from './tools.mjs';

const PROBE = fileURLToPath(new URL('probe-native.cjs', import.meta.url));

/** Every *.node file under `dir` (symlinks not followed: npm links only .bin entries). */
function nodeFiles(dir, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) nodeFiles(path, found);
    else if (entry.isFile() && entry.name.endsWith('.node')) found.push(path);
  }
  return found;
}

/**
 * The `prebuilds/<platform>-<arch...>` directory a file is in, if any: packages built with prebuildify
 * (serialport) ship every platform's binary in one package, and node-gyp-build loads only the one named
 * for the running platform, so the others are not this machine's business.
 */
function prebuildPlatform(path) {
  const parts = path.split(sep);
  const at = parts.lastIndexOf('prebuilds');
  return at >= 0 && at + 1 < parts.length - 1 ? parts[at + 1] : undefined;
}

/**
 * Classifies every .node file under `<tree>/node_modules` for `target`: `ok` (the machine's), `elsewhere`
 * (another platform's prebuild, never loaded here), `wrong` (anything else: an x86-64 build left behind, a
 * 32/64-bit mix-up). Throws listing the wrong ones.
 * @param {{ fileMachine: RegExp, prebuildPlatform: string }} target
 */
export async function checkNodeFiles(target, tree) {
  const modules = join(tree, 'node_modules');
  const files = nodeFiles(modules);
  const types = await fileTypes(files);
  const ok = [];
  const elsewhere = [];
  const wrong = [];
  files.forEach((file, i) => {
    const rel = relative(modules, file);
    const platform = prebuildPlatform(rel);
    // "linux-arm64" matches linux-arm64 only; serialport's "linux-arm" dir holds armv6 and armv7 builds.
    const forUs = platform === undefined || platform.split('+')[0] === target.prebuildPlatform;
    if (target.fileMachine.test(types[i])) ok.push(rel);
    else if (!forUs) elsewhere.push(rel);
    else wrong.push(`${rel}: ${types[i]}`);
  });
  if (wrong.length > 0) {
    throw new SetupError(
      'ARM_WRONG_BINARY',
      `${wrong.length} native file(s) in node_modules are not for ${target.name}`,
      {
        hint: 'an install script built or picked a binary for the host, not the emulated machine',
        detail: wrong.map((line) => `    ${line}`).join('\n'),
      },
    );
  }
  return { ok, elsewhere };
}

/**
 * Loads each native package in the emulated Node (probe-native.cjs) and checks, by `file`, the .node
 * files it then has mapped.
 * @returns {Promise<{ loaded: Record<string, string>, failed: Record<string, string>, mapped: string[] }>}
 */
export async function probeNative(target, tree, emu) {
  const r = await capture(emu.node, [PROBE], { cwd: tree, env: cleanEnv(emu.env) });
  if (r.code !== 0) {
    throw new SetupError('ARM_PROBE', `the native probe failed under the emulated Node (exit ${r.code})`, {
      detail: tail(`${r.stdout}\n${r.stderr}`),
    });
  }
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1));
  const types = await fileTypes(result.mapped);
  const foreign = result.mapped.filter((_, i) => !target.fileMachine.test(types[i]));
  if (foreign.length > 0) {
    throw new SetupError('ARM_WRONG_BINARY', `the emulated Node mapped native files not for ${target.name}`, {
      detail: foreign.map((f) => `    ${f}`).join('\n'),
    });
  }
  return result;
}
