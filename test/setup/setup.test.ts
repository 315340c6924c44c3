// The setup `npm test` runs first (test/setup/index.mjs): without root or sudo it stops at once with the
// command to run; JVM peers are resolved once and Maven is not started again while their stamp matches;
// C helpers are rebuilt only when their source is newer. Maven, gcc and pkg-config are fakes on PATH here
// that record their calls: the real ones are exercised by every `npm test`.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const SCRIPT = fileURLToPath(new URL('index.mjs', import.meta.url));
const MISSING = 'sluice-no-such-package';

function setup(args: string[], env: NodeJS.ProcessEnv = {}, asUser: string[] = []): SpawnSyncReturns<string> {
  const [command, ...argv] = [...asUser, process.execPath, SCRIPT, ...args];
  return spawnSync(command!, argv, {
    cwd: '/',
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
}

function canSudo(): boolean {
  return spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
}

/** A shell script on a PATH of its own that appends its arguments to `calls`, then runs `body`. */
function fakeTool(bin: string, name: string, calls: string, body: string): void {
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, name), `#!/bin/sh\necho "$*" >> '${calls}'\n${body}\n`);
  chmodSync(join(bin, name), 0o755);
}

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

describe('Debian packages', () => {
  // As root the setup would install; as a user with sudo too. Drop to nobody (no sudo rights) when root.
  const asNobody =
    process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  it.skipIf(asNobody.length === 0 && canSudo())(
    'without root or passwordless sudo, stops at once and prints the one command to run',
    () => {
      const started = Date.now();
      const r = setup([], { SLUICE_SETUP_DEBIAN_PACKAGES: `coreutils ${MISSING}` }, asNobody);
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(1);
      expect(r.stderr.split('\n')).toContain(
        `  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${MISSING}`,
      );
      expect(r.stderr).toMatch(/SETUP_NEED_ROOT: missing sluice-no-such-package,/);
      expect(r.stdout).not.toMatch(/JVM peer|gcc helper/); // no later step ran
      expect(Date.now() - started).toBeLessThan(5_000);
    },
  );

  it('--check reports what is missing and installs nothing; installed packages pass', () => {
    const check = setup(['--check', '--only=debian'], {
      SLUICE_SETUP_DEBIAN_PACKAGES: `coreutils,${MISSING}`,
    });
    expect(check.status).toBe(1);
    expect(check.stdout).toContain(
      `missing ${MISSING}; to install: sudo apt-get update && sudo apt-get install`,
    );
    expect(check.stdout).not.toContain('installing');

    const ok = setup(['--only=debian'], { SLUICE_SETUP_DEBIAN_PACKAGES: 'coreutils' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^setup: Debian packages: all 1 installed \(\d+ ms\)$/m);
  });

  it('rejects unknown flags and steps (usage error)', () => {
    expect(setup(['--nope']).status).toBe(2);
    expect(setup(['--only=debian,nope']).status).toBe(2);
  });
});

describe('JVM peers', () => {
  it('runs Maven once per pom and sources, not while the stamp matches, and drops old jars', () => {
    const root = tempDir('sluice-setup-jvm-');
    const peer = join(root, 'test', 'peers', 'demo');
    mkdirSync(join(peer, 'src', 'main', 'java'), { recursive: true });
    writeFileSync(join(peer, 'pom.xml'), '<project/>\n');
    writeFileSync(join(peer, 'src', 'main', 'java', 'Demo.java'), 'class Demo {}\n');
    const bin = join(root, 'bin');
    const calls = join(root, 'mvn-calls');
    // Copies one "dependency" named after the call count and builds the peer's jar where its pom says.
    fakeTool(
      bin,
      'mvn',
      calls,
      `[ -e '${root}/fail' ] && { echo '[ERROR] Failed to collect dependencies: boom'; exit 1; }
for a in "$@"; do case "$a" in -DoutputDirectory=*) out="\${a#-DoutputDirectory=}";; esac; done
n=$(wc -l < '${calls}')
mkdir -p "$out" '${root}/.cache/peers/demo/target'
touch "$out/dep-$n.jar" '${root}/.cache/peers/demo/target/demo-peer-1.jar'`,
    );
    const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    const run = (...args: string[]): SpawnSyncReturns<string> =>
      setup([`--root=${root}`, '--only=jvm', ...args], env);
    const lib = join(root, '.cache', 'peers', 'demo', 'lib');

    const first = run();
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/JVM peer demo: resolved, 1 jars in \.cache\/peers\/demo\/lib/);
    expect(lines(calls)).toHaveLength(1);
    expect(lines(calls)[0]).toBe(
      `-B -q -f ${peer}/pom.xml -Dmaven.repo.local=${root}/.cache/m2 package dependency:copy-dependencies ` +
        `-DincludeScope=runtime -DoutputDirectory=${lib}.${first.pid}.tmp`,
    );
    expect(readdirSync(lib)).toEqual(['dep-1.jar']);
    expect(readFileSync(join(root, '.cache', 'peers', 'demo', 'stamp'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);

    const second = run();
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/JVM peer demo: up to date/);
    expect(run('--check').status).toBe(0);
    expect(lines(calls)).toHaveLength(1); // Maven not started: no network either

    writeFileSync(join(peer, 'src', 'main', 'java', 'Demo.java'), 'class Demo { int x; }\n');
    const stale = run('--check');
    expect(stale.status).toBe(1);
    expect(stale.stdout).toContain('JVM peer demo: not resolved for this pom (stamp differs)');
    expect(lines(calls)).toHaveLength(1);
    expect(run().status).toBe(0);
    expect(lines(calls)).toHaveLength(2);
    expect(readdirSync(lib)).toEqual(['dep-2.jar']); // dep-1 did not linger

    writeFileSync(join(peer, 'pom.xml'), '<project><!-- changed --></project>\n');
    writeFileSync(join(root, 'fail'), '');
    const failed = run();
    expect(failed.status).toBe(1);
    expect(failed.stderr).toContain('setup: FAILED SETUP_MAVEN_FAILED: Maven failed on the demo peer (1)');
    expect(failed.stderr).toContain('[ERROR] Failed to collect dependencies: boom');
    expect(existsSync(join(root, '.cache', 'peers', 'demo', 'stamp'))).toBe(false); // tests refuse the cache
    expect(run('--check').status).toBe(1);
  });
});

describe('gcc helpers', () => {
  it('builds a helper when it is missing or older than its source, else leaves it', () => {
    const root = tempDir('sluice-setup-gcc-');
    const source = join(root, 'test', 'peers', 'kafka-mock', 'mock-cluster.c');
    mkdirSync(join(root, 'test', 'peers', 'kafka-mock'), { recursive: true });
    copyFileSync(fileURLToPath(new URL('../peers/kafka-mock/mock-cluster.c', import.meta.url)), source);
    const bin = join(root, 'bin');
    const calls = join(root, 'calls');
    fakeTool(bin, 'pkg-config', calls, 'echo "-I/fake/include -lrdkafka"');
    fakeTool(bin, 'gcc', calls, 'while [ "$1" != -o ]; do shift; done; echo built > "$2"');
    const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    const run = (...args: string[]): SpawnSyncReturns<string> =>
      setup([`--root=${root}`, '--only=gcc', ...args], env);
    const binary = join(root, 'test', '.peers', 'kafka-mock-cluster');

    expect(run('--check').status).toBe(1);
    const first = run();
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain('gcc helper kafka-mock-cluster: built test/.peers/kafka-mock-cluster');
    expect(readFileSync(binary, 'utf8')).toBe('built\n');
    expect(lines(calls)).toEqual([
      '--cflags --libs rdkafka',
      expect.stringMatching(
        /^-O2 -Wall -o \S+kafka-mock-cluster\.\d+\.tmp \S+mock-cluster\.c -I\/fake\/include -lrdkafka$/,
      ),
    ]);
    expect(readdirSync(join(root, 'test', '.peers'))).toEqual(['kafka-mock-cluster']); // temp renamed away

    expect(run().stdout).toContain('gcc helper kafka-mock-cluster: up to date');
    expect(lines(calls)).toHaveLength(2);

    const later = new Date(Date.now() + 5_000);
    utimesSync(source, later, later);
    const stale = run('--check');
    expect(stale.status).toBe(1);
    expect(stale.stdout).toContain('older than its source');
    expect(run().status).toBe(0);
    expect(lines(calls)).toHaveLength(4);
  });
});
