// One harness for the crash tests' child gateways (test/fixtures/*-gateway-child.mjs): spawns the child, reads
// its `ready` and `acked N lag M` lines, lets the test arm a SIGKILL on them, and kills it itself once it
// reports the drain done (lag 0: nothing left to lose). Resolves with the last ack when SIGKILL ended it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Queue } from '../../gateway/queue/queue.js';
import { readings } from './readings.js';

export interface ChildControl {
  /** SIGKILLs the child (once); the cleanups registered with `onExit` run when it has exited. */
  kill(): void;
  readonly killed: boolean;
  /** Runs `fn` when the child has exited (a timer or an interval the test armed). */
  onExit(fn: () => void): void;
}

export interface ChildHooks {
  /** The child printed `ready` (its gateway is up). */
  onReady?(ctl: ChildControl): void;
  /** The child printed `acked N lag M`. */
  onAck?(acked: number, lag: number, ctl: ChildControl): void;
}

export interface ChildLife {
  /** Highest ack the child reported before it died. */
  readonly acked: number;
  /** Killed by the test (or the drain); false would have rejected. */
  readonly killed: boolean;
}

export function runGatewayChild(
  script: string,
  args: readonly string[],
  hooks: ChildHooks = {},
): Promise<ChildLife> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = 0;
    let stderr = '';
    let buf = '';
    let killed = false;
    const cleanups: Array<() => void> = [];
    const ctl: ChildControl = {
      kill: () => {
        if (killed) return;
        killed = true;
        p.kill('SIGKILL');
      },
      get killed() {
        return killed;
      },
      onExit: (fn) => void cleanups.push(fn),
    };
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => (stderr += d));
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready') hooks.onReady?.(ctl);
        const m = /^acked (\d+) lag (\d+)$/.exec(line);
        if (!m) continue;
        acked = Number(m[1]);
        hooks.onAck?.(acked, Number(m[2]), ctl);
        if (Number(m[2]) === 0) ctl.kill(); // drained: nothing left to lose
      }
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      for (const fn of cleanups) fn();
      if (signal === 'SIGKILL') resolve({ acked, killed });
      else reject(new Error(`child exited with ${code ?? signal}:\n${stderr.slice(-2000)}`));
    });
  });
}

/** The child's starting backlog: `total` readings appended to the queue in `dataDir/queue`, whose path it returns. */
export async function writeBacklog(dataDir: string, total: number): Promise<string> {
  const dir = join(dataDir, 'queue');
  const queue = Queue.open({ dir, maxBytes: 1 << 30, onFull: 'reject_new' });
  for (let i = 0; i < total; i += 1_000) await queue.append(readings(Math.min(1_000, total - i), i));
  await queue.close();
  return dir;
}
