// Small tools shared by the setup steps: running a command with its output kept, finding a command on
// PATH, one lock so two setups never change the cache at once, and errors that carry a code and a hint.
import { spawn } from 'node:child_process';
import {
  accessSync,
  appendFileSync,
  constants,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * A setup failure: `code` is stable, `hint` says what to do, `command` is the one line to run (printed
 * alone, to paste), `detail` (e.g. a tool's output tail) follows.
 */
export class SetupError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{ hint?: string, command?: string, detail?: string }} [options]
   */
  constructor(code, message, options = {}) {
    super(message);
    this.name = 'SetupError';
    this.code = code;
    this.hint = options.hint;
    this.command = options.command;
    this.detail = options.detail;
  }
}

/** The first executable `name` on PATH, or undefined. No process is spawned: this runs on every test run. */
export function which(name, path = process.env.PATH ?? '') {
  for (const dir of path.split(':').filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this PATH entry (ENOENT) or not executable: try the next one.
      continue;
    }
  }
  return undefined;
}

/** The last `lines` lines of a tool's output, indented, for an error message. */
export function tail(text, lines = 30) {
  return text
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .map((line) => `    ${line}`)
    .join('\n');
}

/**
 * Runs a command to its end and resolves with its exit code and combined output (stdout and stderr
 * interleaved, as a terminal shows them); a missing command resolves with code null and `error`.
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ env?: NodeJS.ProcessEnv, cwd?: string, log?: string }} [options] log: append the output there
 * @returns {Promise<{ code: number | null, output: string, error?: Error }>}
 */
export function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk) => {
      // A long apt or Maven run: keep the end, where the reason for a failure is.
      output = (output + chunk).slice(-256_000);
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    let error;
    child.once('error', (err) => {
      error = err;
    });
    child.once('close', (code) => {
      if (options.log) appendFileSync(options.log, `$ ${command} ${args.join(' ')}\n${output}\n`);
      resolve(error ? { code: null, output, error } : { code, output });
    });
  });
}

function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch (err) {
    // Released meanwhile: as good as new, the next mkdir decides.
    if (err.code === 'ENOENT') return Date.now();
    throw err;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but is another user's; ESRCH: it is gone.
    return err.code === 'EPERM';
  }
}

/**
 * Takes `<dir>/lock` (a directory: mkdir is atomic) for the rest of this process, waiting while another
 * live setup holds it; a lock left by a dead process is taken over. Only setups that change something
 * take it, so the common run (nothing to do) never waits.
 * @param {string} dir
 * @param {(line: string) => void} say
 */
export async function takeLock(dir, say) {
  const lock = join(dir, 'lock');
  mkdirSync(dir, { recursive: true });
  let waiting = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      process.once('exit', () => rmSync(lock, { recursive: true, force: true }));
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    } catch (err) {
      // Just created, pid not written yet: wait like for a live owner (below: unless that was long ago).
      if (err.code !== 'ENOENT') throw err;
    }
    const orphan = !Number.isInteger(owner) && Date.now() - mtimeMs(lock) > 10_000;
    if (orphan || (Number.isInteger(owner) && !alive(owner))) {
      say(`taking over the lock of setup pid ${owner}, which is gone`);
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (!waiting) say(`waiting for another setup (pid ${owner}) to finish`);
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
