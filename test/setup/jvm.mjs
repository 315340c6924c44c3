// Setup step 2: the JVM test peers. Every test/peers/<name>/pom.xml is one (the convention test/peers/jvm.ts
// reads): Maven resolves its runtime dependencies into .cache/peers/<name>/lib (and compiles src/main/java
// into .cache/peers/<name>/target), then a stamp records what was resolved. While the stamp matches, Maven
// is not even started: a second run makes no network request.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';

import { SetupError, run, tail, which } from './lib.mjs';

/**
 * Part of every stamp: changing how peers are resolved (below) must re-resolve them, like changing a pom.
 * Bump it with any change to mavenArgs.
 */
const RECIPE = 'sluice-jvm-peer 1: mvn package dependency:copy-dependencies -DincludeScope=runtime';

/** Peer names, sorted: the folders of test/peers/ holding a pom.xml. */
export function jvmPeers(root) {
  const peers = join(root, 'test', 'peers');
  if (!existsSync(peers)) return [];
  return readdirSync(peers, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(peers, d.name, 'pom.xml')))
    .map((d) => d.name)
    .sort();
}

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => !d.isDirectory())
    .map((d) => join(d.parentPath, d.name))
    .sort();
}

/** sha256 over the recipe, the pom and every file under src/, each with its path (a rename counts). */
export function peerStamp(root, name) {
  const dir = join(root, 'test', 'peers', name);
  const hash = createHash('sha256').update(`${RECIPE}\n`);
  for (const file of [join(dir, 'pom.xml'), ...filesUnder(join(dir, 'src'))]) {
    const content = readFileSync(file);
    hash.update(`${relative(dir, file)}\0${content.length}\0`).update(content);
  }
  return hash.digest('hex');
}

function mavenArgs(root, name, outputDirectory) {
  return [
    '-B',
    '-q',
    '-f',
    join(root, 'test', 'peers', name, 'pom.xml'),
    `-Dmaven.repo.local=${join(root, '.cache', 'm2')}`,
    'package',
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${outputDirectory}`,
  ];
}

/** The major version of the java the peers run on (JAVA_HOME's, else PATH's), from its `release` file. */
function javaMajor() {
  const home = process.env.JAVA_HOME;
  const java = home ? join(home, 'bin', 'java') : which('java');
  if (java === undefined || !existsSync(java)) return { java: undefined, major: undefined };
  try {
    const release = readFileSync(join(dirname(dirname(realpathSync(java))), 'release'), 'utf8');
    const version = /^JAVA_VERSION="(\d+)(?:\.(\d+))?/m.exec(release);
    // Java 8 and older called themselves 1.8: the minor is the major.
    const major = version && (version[1] === '1' ? Number(version[2]) : Number(version[1]));
    return { java, major: major || undefined };
  } catch (err) {
    // No release file (an unusual JDK layout): the version cannot be told without starting a JVM; the
    // peers' own start then says if it is too old.
    return { java, major: undefined, why: err.code };
  }
}

/** @param {import('./index.mjs').Context} ctx */
export async function jvmStep(ctx) {
  const peers = jvmPeers(ctx.root);
  if (peers.length === 0) return;
  const { java, major } = javaMajor();
  if (java === undefined || (major !== undefined && major < 17)) {
    const what =
      java === undefined ? 'no java on PATH (nor $JAVA_HOME/bin/java)' : `${java} is Java ${major}`;
    throw new SetupError('SETUP_JAVA', `the JVM test peers (${peers.join(', ')}) need Java 17+: ${what}`, {
      hint: 'install a JDK 17+ (Debian 12+: apt-get install default-jdk-headless) or point JAVA_HOME at one',
    });
  }
  // One after another: they share the Maven cache and two cores.
  for (const name of peers) await ctx.timed(`JVM peer ${name}`, () => resolvePeer(ctx, name));
}

async function resolvePeer(ctx, name) {
  const cache = join(ctx.root, '.cache', 'peers', name);
  const stampFile = join(cache, 'stamp');
  const current = () => existsSync(join(cache, 'lib')) && readStamp(stampFile) === peerStamp(ctx.root, name);
  if (current()) return 'up to date';
  if (ctx.check) {
    ctx.missing();
    return `not resolved for this pom (${existsSync(stampFile) ? 'stamp differs' : 'no stamp'})`;
  }
  await ctx.lock();
  if (current()) return 'up to date (resolved by another setup)';
  const mvn = which('mvn');
  if (mvn === undefined) {
    throw new SetupError('SETUP_NO_MAVEN', `the ${name} peer needs Maven, and mvn is not on PATH`, {
      hint: 'apt-get install maven (the Debian packages step does it when run as root or with sudo)',
    });
  }
  // Old jars must not linger on the classpath (jvm.ts takes lib/* and target/*.jar): Maven copies the
  // dependencies into a fresh directory that then replaces lib/, so a test reading lib/ meanwhile never
  // sees a mix of old and new jars; target/ (where the pom builds) is rebuilt from nothing.
  const lib = join(cache, 'lib');
  const staging = `${lib}.${process.pid}.tmp`;
  rmSync(stampFile, { force: true });
  rmSync(staging, { recursive: true, force: true });
  rmSync(join(cache, 'target'), { recursive: true, force: true });
  mkdirSync(staging, { recursive: true }); // a peer without dependencies gets no directory from Maven
  const stamp = peerStamp(ctx.root, name); // of what Maven is about to read
  const args = mavenArgs(ctx.root, name, staging);
  const log = join(cache, 'maven.log');
  writeFileSync(log, '');
  try {
    const r = await run(mvn, args, { cwd: ctx.root, log });
    if (r.code !== 0) {
      throw new SetupError(
        'SETUP_MAVEN_FAILED',
        `Maven failed on the ${name} peer (${r.error?.message ?? r.code})`,
        {
          hint: `full output in ${log}; the command: mvn ${args.join(' ')}`,
          detail: tail(r.output, 40),
        },
      );
    }
    const src = join(ctx.root, 'test', 'peers', name, 'src', 'main', 'java');
    const target = join(cache, 'target');
    if (existsSync(src) && !(existsSync(target) && readdirSync(target).some((f) => f.endsWith('.jar')))) {
      throw new SetupError('SETUP_PEER_LAYOUT', `the ${name} peer has sources but no jar in ${target}`, {
        hint: `its pom must set <build><directory>\${project.basedir}/../../../.cache/peers/${name}/target</directory>`,
      });
    }
    const old = `${lib}.${process.pid}.old`;
    if (existsSync(lib)) renameSync(lib, old);
    renameSync(staging, lib);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const jars = readdirSync(lib).length;
  writeFileSync(`${stampFile}.tmp`, `${stamp}\n`);
  renameSync(`${stampFile}.tmp`, stampFile);
  return `resolved, ${jars} jars in ${relative(ctx.root, lib)}`;
}

function readStamp(file) {
  try {
    return readFileSync(file, 'utf8').trim().split(/\s/)[0];
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
}
