// How the emulated Node is started: a wrapper script `node` that runs the arm binary under
// qemu-user-static, first on PATH, so npm's scripts, node-gyp and the tests' children all get it. Where the
// kernel has a binfmt_misc entry for the architecture, the wrapper just execs the binary (the kernel calls
// qemu); otherwise it calls qemu itself and exec-path.cjs makes process.execPath point to it.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SetupError, which } from '../setup/lib.mjs';

const PRELOAD = fileURLToPath(new URL('exec-path.cjs', import.meta.url));

/** Whether the kernel runs `binfmt` binaries itself (a registered, enabled binfmt_misc entry). */
export function binfmtEnabled(binfmt) {
  try {
    return readFileSync(`/proc/sys/fs/binfmt_misc/${binfmt}`, 'utf8').startsWith('enabled');
  } catch (err) {
    // No entry, or binfmt_misc not mounted (a container): qemu is called explicitly.
    if (err.code === 'ENOENT' || err.code === 'EACCES') return false;
    throw err;
  }
}

/**
 * Writes `<dir>/bin/node` for `nodeBin`.
 * @param {{ qemu: string, binfmt: string }} target
 * @returns {{ node: string, env: Record<string, string>, how: string }} env: to add to the children's
 */
export function emulator(target, nodeBin, dir) {
  const binfmt = binfmtEnabled(target.binfmt);
  const qemu = binfmt ? undefined : which(target.qemu);
  if (!binfmt && qemu === undefined) {
    throw new SetupError('ARM_NO_QEMU', `${target.qemu} is not on PATH`, {
      hint: 'the Debian step installs qemu-user-static',
    });
  }
  const binDir = join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const node = join(binDir, 'node');
  // exec, not a child: a signal to the wrapper's pid (the tests' SIGKILL) reaches the emulated Node itself.
  const run = binfmt ? `exec '${nodeBin}' "$@"` : `exec '${qemu}' '${nodeBin}' "$@"`;
  writeFileSync(node, `#!/bin/sh\n# Written by test/arm/emulator.mjs.\n${run}\n`);
  chmodSync(node, 0o755);
  const env = { PATH: `${binDir}:${process.env.PATH ?? ''}`, SLUICE_ARM_NODE: node };
  if (!binfmt) env.NODE_OPTIONS = `--require ${PRELOAD}`;
  return {
    node,
    env,
    how: binfmt
      ? `binfmt_misc ${target.binfmt} (the kernel calls qemu)`
      : `${qemu} called by ${node} (no binfmt_misc entry)`,
  };
}
