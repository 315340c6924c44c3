// Small tools of the arm test: a command's stdout apart from its stderr, the environment without what
// `npm run` adds, and what `file` says a binary is for.
import { spawn } from 'node:child_process';

/**
 * Runs a command to its end; stdout and stderr apart (run() in test/setup/lib.mjs interleaves them).
 * @returns {Promise<{ code: number | null, stdout: string, stderr: string, error?: Error }>}
 */
export function capture(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-64_000)));
    let error;
    child.once('error', (err) => {
      error = err;
    });
    child.once('close', (code) =>
      resolve(error ? { code: null, stdout, stderr, error } : { code, stdout, stderr }),
    );
  });
}

/**
 * This environment without what `npm run` sets for its script (npm_config_*, npm_package_*, INIT_CWD,
 * NODE...): an `npm ci` started from `npm run test:arm64` would otherwise take the outer checkout's prefix.
 */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'INIT_CWD' || key === 'NODE' || key === 'NODE_OPTIONS') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** `file -b` of each path, in order (one process for all of them). */
export async function fileTypes(paths) {
  if (paths.length === 0) return [];
  // -b: no name; -L: follow links; -N: no padding; one line per file, in argument order.
  const r = await capture('file', ['-b', '-L', '-N', ...paths]);
  if (r.code !== 0) throw new Error(`file failed (${r.error?.message ?? r.code}): ${r.stderr}`);
  const lines = r.stdout.trimEnd().split('\n');
  if (lines.length !== paths.length)
    throw new Error(`file gave ${lines.length} lines for ${paths.length} files`);
  return lines;
}

export async function fileType(path) {
  return (await fileTypes([path]))[0];
}
