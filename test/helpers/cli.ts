// Runs the compiled `sluice` CLI (dist/, built by `npm test`'s pretest) as a user would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const cliPath = fileURLToPath(new URL('../../dist/gateway/cli/main.js', import.meta.url));

export function sluice(
  args: string[],
  cwd?: string,
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function sluiceSpawn(args: string[], cwd?: string): ChildProcess {
  return spawn(process.execPath, [cliPath, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}
