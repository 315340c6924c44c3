// The arm test's Debian packages: the foreign architecture added to dpkg (multiarch), then the packages of
// test/arm/packages-<arch>.txt that dpkg lacks, installed as root or through passwordless sudo; without
// either, the one command to run. Like test/setup/debian.mjs, whose list format and lock it shares, but
// foreign packages (`libc6:arm64`) need dpkg's architecture-qualified names, which that step does not ask for.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { readPackageList, rootPrefix } from '../setup/debian.mjs';
import { SetupError, run, tail, which } from '../setup/lib.mjs';

/** dpkg's output, or a SetupError saying this is not a Debian machine. */
function dpkg(args) {
  const r = spawnSync('dpkg', args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new SetupError('ARM_NO_DPKG', `dpkg ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`, {
      hint: 'the arm test runs on Debian or Ubuntu (multiarch and qemu-user-static come from the archive)',
    });
  }
  return r.stdout.trim();
}

/**
 * Which of `names` (plain or `name:arch`) dpkg does not have installed. `${binary:Package}` qualifies
 * Multi-Arch: same packages with their architecture (`libc6:amd64`), so a bare name also matches
 * `name:<native>`.
 */
export function notInstalled(names) {
  if (names.length === 0) return [];
  const native = dpkg(['--print-architecture']);
  const r = spawnSync('dpkg-query', ['-W', '-f=${binary:Package} ${Status}\\n', ...names], {
    encoding: 'utf8',
  });
  if (r.error) throw new SetupError('ARM_NO_DPKG', `dpkg-query: ${r.error.message}`);
  // Exit status 1 only means some names are unknown to dpkg (never installed): missing, like the rest.
  const installed = new Set();
  for (const line of r.stdout.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0 || line.slice(space + 1) !== 'install ok installed') continue;
    const name = line.slice(0, space);
    installed.add(name);
    if (name.endsWith(`:${native}`)) installed.add(name.slice(0, -native.length - 1));
  }
  return names.filter((name) => !installed.has(name));
}

/** The one line a user without root or sudo rights runs (printed verbatim, to paste). */
export function installLine(debArch, missing, addArch) {
  const add = addArch ? `sudo dpkg --add-architecture ${debArch} && ` : '';
  return `${add}sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`;
}

/**
 * Makes the machine ready for `target`; returns what it did, for the summary.
 * @param {{ root: string, debArch: string, packageList: string, say: (line: string) => void }} options
 */
export async function debianPackages({ root, debArch, packageList, say }) {
  const wanted = readPackageList(packageList)
    .filter((p) => p.unlessCommand === undefined || which(p.unlessCommand) === undefined)
    .map((p) => p.name);
  const hasArch = () =>
    dpkg(['--print-foreign-architectures']).split('\n').includes(debArch) ||
    dpkg(['--print-architecture']) === debArch;
  const addArch = !hasArch();
  const missing = notInstalled(wanted);
  if (!addArch && missing.length === 0) return `all ${wanted.length} installed`;
  const prefix = rootPrefix();
  if (prefix === undefined) {
    throw new SetupError(
      'ARM_NEED_ROOT',
      `missing ${addArch ? `dpkg architecture ${debArch}, ` : ''}${missing.join(' ')}; installing needs root or passwordless sudo. Run this, then the arm test again:`,
      { command: installLine(debArch, missing, addArch) },
    );
  }
  // apt and dpkg lock their database themselves; apt waits for another (npm test's setup) below.
  const logDir = join(root, '.cache', 'arm');
  mkdirSync(logDir, { recursive: true });
  const log = join(logDir, 'apt.log');
  writeFileSync(log, '');
  const asRoot = async (argv) => {
    const full = [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', ...argv];
    const r = await run(full[0], full.slice(1), { log });
    if (r.code !== 0) {
      throw new SetupError(
        'ARM_APT_FAILED',
        `${argv.slice(0, 2).join(' ')} failed (${r.error?.message ?? r.code})`,
        {
          hint: `full output in ${log}; by hand: ${installLine(debArch, missing, addArch)}`,
          detail: tail(r.output),
        },
      );
    }
  };
  if (addArch) {
    say(`adding dpkg architecture ${debArch} (Debian multiarch)`);
    await asRoot(['dpkg', '--add-architecture', debArch]);
  }
  say(`installing ${missing.join(' ')} with apt-get (output: ${log})`);
  // The package lists must include the new architecture's: update even when they are fresh.
  // Wait for another apt (npm test's setup, unattended-upgrades) rather than fail on its lock.
  await asRoot(['apt-get', 'update', '-q', '-o', 'DPkg::Lock::Timeout=300']);
  await asRoot([
    'apt-get',
    'install',
    '-q',
    '-y',
    '--no-install-recommends',
    '-o',
    'DPkg::Lock::Timeout=300',
    ...missing,
  ]);
  const still = notInstalled(missing);
  if (still.length > 0) {
    throw new SetupError('ARM_APT_FAILED', `apt-get succeeded but dpkg still lacks ${still.join(' ')}`, {
      hint: `see ${log}`,
    });
  }
  return `${addArch ? `added architecture ${debArch}, ` : ''}installed ${missing.join(' ')}`;
}
