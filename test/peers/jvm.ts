// JVM test peers (Kafka, Spark, ...): each is a folder test/peers/<name>/ with a pom.xml that `npm test`'s
// setup (test/setup/index.mjs) resolves through Maven into the git-ignored cache .cache/peers/<name>/:
// lib/ holds the runtime dependencies, target/ the peer's own compiled jar when it has sources. Tests only
// read the cache; they never call Maven, so a test run makes no network request.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CACHE = join(ROOT, '.cache', 'peers');

/** What to run when a peer's jars are not in the cache: the setup that `npm test` runs first. */
export const JVM_PEER_SETUP = 'node test/setup/index.mjs (npm test runs it first)';

/** The peer's classpath: its own jar (if it has sources) and every runtime dependency, or a clear error. */
export function peerClasspath(name: string): string {
  const dir = join(CACHE, name);
  const lib = join(dir, 'lib');
  if (!existsSync(join(dir, 'stamp')) || !existsSync(lib)) {
    throw new Error(`the ${name} test peer's jars are not in ${dir}: run ${JVM_PEER_SETUP}`);
  }
  const own = join(dir, 'target');
  const jars = existsSync(own)
    ? readdirSync(own)
        .filter((f) => f.endsWith('.jar'))
        .map((f) => join(own, f))
    : [];
  return [...jars, join(lib, '*')].join(':');
}

/** The java binary: $JAVA_HOME/bin/java when set, else the one on PATH. */
export function javaBin(): string {
  const home = process.env.JAVA_HOME;
  return home ? join(home, 'bin', 'java') : 'java';
}

export interface JvmOptions {
  /** Maximum heap, e.g. '256m'. Small by default: the peers share 2 cores and the tests' memory. */
  heap?: string;
  /** Extra JVM flags before the main class. */
  jvmArgs?: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Give the JVM a stdin pipe (default: none). */
  stdin?: boolean;
}

/**
 * Starts `java -cp <peer classpath> <main> ...args` with settings for short-lived test JVMs on 2 cores: a
 * small fixed heap, the serial GC (no GC threads competing with the tests) and the C1 compiler only (less
 * CPU spent compiling during start). No JVM outlives the test process that started it, however that process
 * ends (a failed test, vitest tearing a worker down, SIGKILL): util-linux's `setpriv --pdeathsig KILL` has
 * the kernel kill the JVM when its parent dies, and an exit hook kills it on a normal exit.
 */
export function spawnJvm(
  peer: string,
  main: string,
  args: readonly string[],
  options: JvmOptions = {},
): ChildProcess {
  const heap = options.heap ?? '256m';
  const java = [
    javaBin(),
    `-Xmx${heap}`,
    `-Xms${heap}`,
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    ...(options.jvmArgs ?? []),
    '-cp',
    peerClasspath(peer),
    main,
    ...args,
  ];
  // setpriv execs java in place, so the child's pid is the JVM's.
  const child = spawn(SETPRIV, ['--pdeathsig', 'KILL', ...java], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  reapOnExit(child);
  return child;
}

const SETPRIV = existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : 'setpriv';

const children = new Set<ChildProcess>();
let hooked = false;

/** Kills the child with SIGKILL when this process exits normally (pdeathsig covers the other ways). */
export function reapOnExit(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
}

/** Resident set size of a process in bytes (Linux /proc), or undefined when it is gone. */
export async function rssBytes(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status && /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : undefined;
}
