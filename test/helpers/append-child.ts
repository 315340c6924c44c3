// test/fixtures/append-child.mjs, SIGKILLed `killAfterMs` after it says `ready`: the queue crash tests'
// child (it appends, printing each acknowledged append). Resolves with what it printed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const child = fileURLToPath(new URL('../fixtures/append-child.mjs', import.meta.url));

/** `args` after the child's path: dir, round, commit mode, and optionally the commit delay in ms. */
export function runAppendChildAndKill(args: readonly string[], killAfterMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      if (out === '' && d.startsWith('ready')) setTimeout(() => p.kill('SIGKILL'), killAfterMs);
      out += d;
    });
    p.on('error', reject);
    p.on('exit', (_code, signal) =>
      signal === 'SIGKILL'
        ? resolve(out)
        : reject(new Error(`child exited without SIGKILL: ${out.slice(-500)}`)),
    );
  });
}
