// The project as the emulated machine gets it: the checkout's tracked files (as they are in the working tree)
// copied into .cache/arm/<arch>/tree, and `npm ci --cpu=<arch> --os=linux` run there by the emulated Node,
// so that every install script (node-gyp-build, prebuild-install, node-gyp) decides for that machine.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { SetupError, tail, which } from '../setup/lib.mjs';
import { capture, cleanEnv } from './tools.mjs';

/** Copies the tracked files of `root` into `tree`, replacing all but its node_modules. */
export async function copyTree(root, tree) {
  const ls = await capture('git', ['ls-files', '-z'], { cwd: root });
  if (ls.code !== 0) {
    throw new SetupError('ARM_COPY', `git ls-files failed in ${root}: ${ls.stderr || ls.error?.message}`, {
      hint: 'the arm test copies a git checkout',
    });
  }
  mkdirSync(tree, { recursive: true });
  for (const entry of readdirSync(tree)) {
    if (entry !== 'node_modules') rmSync(join(tree, entry), { recursive: true, force: true });
  }
  let copied = 0;
  for (const file of ls.stdout.split('\0').filter(Boolean)) {
    // Deleted in the working tree but not yet in git: the copy is of the working tree.
    if (!existsSync(join(root, file))) continue;
    cpSync(join(root, file), join(tree, file), { preserveTimestamps: true });
    copied += 1;
  }
  return copied;
}

/** The npm CLI's JavaScript entry, run by the emulated Node (npm itself is plain JavaScript). */
function npmCli() {
  const fromNpmRun = process.env.npm_execpath;
  if (fromNpmRun?.endsWith('.js') && existsSync(fromNpmRun)) return fromNpmRun;
  const npm = which('npm');
  if (npm === undefined) throw new SetupError('ARM_NO_NPM', 'npm is not on PATH');
  return realpathSync(npm);
}

/**
 * Runs `npm ci --cpu=<npmCpu> --os=linux` in `tree` under the emulated Node, unless node_modules was
 * installed from the same lock file for the same Node and architecture. Native parts that come with no
 * prebuilt binary for the machine are built by node-gyp with the cross compiler standing in for the
 * device's own g++; node-gyp gets the emulated Node's headers.
 * @returns {Promise<string>} what was done
 */
export async function npmCi({ target, tree, emu, nodeDir, nodeVersion, log, fresh }) {
  const lock = readFileSync(join(tree, 'package-lock.json'));
  const stamp = createHash('sha256')
    .update(lock)
    .update(`\0${target.npmCpu}\0${nodeVersion}\0${target.cross}`)
    .digest('hex');
  const stampFile = join(tree, 'node_modules', '.sluice-arm-stamp');
  if (!fresh && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    const skipped = optionalSkipped(tree);
    return `node_modules is from this lock file, Node and arch: npm ci skipped (--fresh to force)${skipped.length > 0 ? `; optional packages absent: ${skipped.join(', ')}` : ''}`;
  }
  const args = [
    npmCli(),
    'ci',
    `--cpu=${target.npmCpu}`,
    '--os=linux',
    '--no-audit',
    '--no-fund',
    '--foreground-scripts',
  ];
  const cross = target.cross;
  const env = cleanEnv({
    ...emu.env,
    npm_config_nodedir: nodeDir,
    CC: `${cross}-gcc`,
    CXX: `${cross}-g++`,
    AR: `${cross}-ar`,
    LINK: `${cross}-g++`,
  });
  const r = await capture(emu.node, args, { cwd: tree, env });
  mkdirSync(dirname(log), { recursive: true });
  writeFileSync(log, `$ ${emu.node} ${args.join(' ')}\n${r.stdout}\n--- stderr\n${r.stderr}\n`);
  if (r.code !== 0) {
    throw new SetupError(
      'ARM_NPM_CI',
      `npm ci --cpu=${target.npmCpu} failed under the emulated Node (exit ${r.code})`,
      {
        hint: `full output in ${log}`,
        detail: tail(`${r.stdout}\n${r.stderr}`, 25),
      },
    );
  }
  writeFileSync(stampFile, stamp);
  const skipped = optionalSkipped(tree);
  return `npm ci done${skipped.length > 0 ? `; optional packages npm dropped (their install failed): ${skipped.join(', ')}` : ''} (output: ${log})`;
}

/** The project's optional dependencies that are not in node_modules: npm removes one whose install failed. */
function optionalSkipped(tree) {
  const pkg = JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8'));
  return Object.keys(pkg.optionalDependencies ?? {}).filter(
    (name) => !existsSync(join(tree, 'node_modules', name, 'package.json')),
  );
}
