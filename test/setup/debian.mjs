// Setup step 1: the Debian packages of debian-packages.txt that dpkg does not have, installed with apt-get
// as root or through passwordless sudo; without either, the one command to run instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SetupError, run, tail, which } from './lib.mjs';

export const PACKAGE_LIST = fileURLToPath(new URL('debian-packages.txt', import.meta.url));

/** Replaces the list (space or comma separated; empty skips the step), e.g. for the setup's own test. */
export const PACKAGES_ENV = 'SLUICE_SETUP_DEBIAN_PACKAGES';

/**
 * The list's entries: `name [unless-command=CMD] [# why]` per line.
 * @returns {{ name: string, unlessCommand?: string }[]}
 */
export function readPackageList(file = PACKAGE_LIST) {
  const entries = [];
  for (const [index, raw] of readFileSync(file, 'utf8').split('\n').entries()) {
    const words = raw.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    const [name, ...options] = words;
    const entry = { name };
    for (const option of options) {
      const match = /^unless-command=(\S+)$/.exec(option);
      if (!match) {
        throw new SetupError('SETUP_PACKAGE_LIST', `${file}:${index + 1}: unknown option ${option}`, {
          hint: 'a line is `package [unless-command=NAME] [# comment]`',
        });
      }
      entry.unlessCommand = match[1];
    }
    entries.push(entry);
  }
  return entries;
}

/** The packages this machine needs: the list's (minus those whose command is on PATH), or the override. */
export function wantedPackages(env = process.env) {
  const override = env[PACKAGES_ENV];
  if (override !== undefined) return override.split(/[\s,]+/).filter(Boolean);
  return readPackageList()
    .filter((p) => p.unlessCommand === undefined || which(p.unlessCommand) === undefined)
    .map((p) => p.name);
}

/** Which of `names` dpkg does not report as "install ok installed": one dpkg-query, no network. */
export function notInstalled(names) {
  if (names.length === 0) return [];
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...names], { encoding: 'utf8' });
  if (r.error) {
    throw new SetupError(
      'SETUP_NO_DPKG',
      `cannot ask dpkg which packages are installed: ${r.error.message}`,
      {
        hint: `not Debian? install these by other means, then run with ${PACKAGES_ENV}= (empty): ${names.join(' ')}`,
      },
    );
  }
  // Exit status 1 only means some names are unknown to dpkg, i.e. never installed: missing, like the rest.
  const installed = new Set();
  for (const line of r.stdout.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && line.slice(space + 1) === 'install ok installed') installed.add(line.slice(0, space));
  }
  return names.filter((name) => !installed.has(name));
}

/** How to run a command as root here: [] when we are root, sudo -n when it needs no password, else none. */
export function rootPrefix() {
  if (process.getuid?.() === 0) return [];
  const sudo = spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' });
  return sudo.status === 0 ? ['sudo', '-n'] : undefined;
}

/** [command, args] running `argv` as root with `env` set (sudo resets the environment, so through env). */
function asRoot(prefix, argv, env = {}) {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const full =
    prefix.length > 0 ? [...prefix, 'env', ...assignments, ...argv] : ['env', ...assignments, ...argv];
  return [full[0], full.slice(1)];
}

/** The one command a user without root or sudo rights runs (printed verbatim, to paste). */
export function installCommand(missing) {
  return `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`;
}

/** @param {import('./index.mjs').Context} ctx */
export async function debianStep(ctx) {
  await ctx.timed('Debian packages', async () => {
    const wanted = wantedPackages();
    if (wanted.length === 0) return 'none asked for';
    let missing = notInstalled(wanted);
    if (missing.length === 0) return `all ${wanted.length} installed`;
    if (ctx.check) {
      ctx.missing();
      return `missing ${missing.join(' ')}; to install: ${installCommand(missing)}`;
    }
    const prefix = rootPrefix();
    if (prefix === undefined) {
      throw new SetupError(
        'SETUP_NEED_ROOT',
        `missing ${missing.join(' ')}, and installing needs root or passwordless sudo; run this, then npm test again:`,
        { command: installCommand(missing) },
      );
    }
    await ctx.lock();
    missing = notInstalled(wanted); // another setup may have installed them while we waited
    if (missing.length === 0) return `all ${wanted.length} installed (by another setup)`;
    const logDir = join(ctx.root, '.cache', 'setup');
    mkdirSync(logDir, { recursive: true });
    const log = join(logDir, 'apt.log');
    writeFileSync(log, '');
    ctx.say(`installing ${missing.join(' ')} with apt-get (output: ${log})`);
    const apt = async (args) => {
      const [command, argv] = asRoot(prefix, ['apt-get', ...args], { DEBIAN_FRONTEND: 'noninteractive' });
      const r = await run(command, argv, { log });
      if (r.code !== 0) {
        throw new SetupError(
          'SETUP_APT_FAILED',
          `apt-get ${args[0]} failed (${r.error?.message ?? r.code})`,
          {
            hint: `full output in ${log}; try by hand: ${installCommand(missing)}`,
            detail: tail(r.output),
          },
        );
      }
    };
    // Wait for another apt (e.g. unattended-upgrades) rather than fail on its lock.
    await apt(['update', '-q', '-o', 'DPkg::Lock::Timeout=300']);
    await apt([
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
      throw new SetupError('SETUP_APT_FAILED', `apt-get succeeded but dpkg still lacks ${still.join(' ')}`, {
        hint: `see ${log}`,
      });
    }
    if (missing.includes('mosquitto')) ctx.say(await stopSystemBroker(prefix));
    return `installed ${missing.join(' ')}`;
  });
}

/**
 * Debian's mosquitto package starts a system broker on port 1883 (systemd, or its init script where no
 * systemd runs and no policy-rc.d forbids it, as in a plain container). The tests start their own on free
 * ports and need none: stop and disable it. Failures change nothing for the tests, so they are reported
 * and the setup goes on.
 */
async function stopSystemBroker(prefix) {
  const results = [];
  let stopped = false;
  if (which('systemctl') !== undefined) {
    for (const verb of ['stop', 'disable']) {
      const [command, argv] = asRoot(prefix, ['systemctl', verb, 'mosquitto']);
      const r = await run(command, argv);
      const why = r.output.trim().split('\n').pop() ?? '';
      if (verb === 'stop') stopped = r.code === 0;
      results.push(r.code === 0 ? `${verb} ok` : `${verb} failed (ignored: ${r.error?.message ?? why})`);
    }
  }
  const script = '/etc/init.d/mosquitto';
  if (!stopped && existsSync(script)) {
    // Without systemd: the init script's status is 0 only while its broker runs.
    const [statusCommand, statusArgv] = asRoot(prefix, [script, 'status']);
    if ((await run(statusCommand, statusArgv)).code === 0) {
      const [command, argv] = asRoot(prefix, [script, 'stop']);
      const r = await run(command, argv);
      results.push(
        r.code === 0 ? `${script} stop ok` : `${script} stop failed (ignored: ${r.output.trim()})`,
      );
    } else {
      results.push(`${script}: not running`);
    }
  }
  return `mosquitto system broker: ${results.join(', ') || 'no systemctl, no init script: nothing to stop'}`;
}
