// A pseudo-terminal pair made by socat, standing in for a serial cable: the gateway opens `<dir>/dev`, the
// simulated device opens `<dir>/sim`. `link=` keeps both paths stable across stop()/start(), like a
// /dev/serial/by-id link across an unplug and replug of the same adapter.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** What to run when socat is missing; thrown verbatim so a reader can paste it. */
export const SOCAT_INSTALL = 'apt-get install -y socat';

export function socatBinary(): string {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/usr/local/bin']) {
    const path = join(dir, 'socat');
    if (spawnSync('test', ['-x', path]).status === 0) return path;
  }
  throw new Error(SOCAT_INSTALL);
}

export class PtyPair {
  /** The gateway's end, the path a `serial` source opens. */
  readonly devPath: string;
  /** The simulated device's end. */
  readonly simPath: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderr = '';

  private constructor(
    readonly dir: string,
    private readonly binary: string,
  ) {
    this.devPath = join(dir, 'dev');
    this.simPath = join(dir, 'sim');
  }

  /** Starts socat with links in `dir` (which must exist) and resolves once both ends can be opened. */
  static async start(dir: string): Promise<PtyPair> {
    const pair = new PtyPair(dir, socatBinary());
    await pair.start();
    return pair;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.child !== undefined) throw new Error('socat is already running');
    this.stderr = '';
    const child = spawn(
      this.binary,
      ['-d', '-d', `pty,raw,echo=0,link=${this.devPath}`, `pty,raw,echo=0,link=${this.simPath}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`socat not ready after 5 s:\n${this.stderr}`)), 5000);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (text: string) => {
        if (this.stderr.length < 64_000) this.stderr += text;
        // `-d -d` logs this once both ptys exist and their links are made.
        if (this.stderr.includes('starting data transfer loop')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (err) => fail(err));
      child.once('exit', (code, signal) =>
        fail(new Error(`socat exited (${code ?? signal ?? '?'}) before it was ready:\n${this.stderr}`)),
      );
    });
    if (!existsSync(this.devPath) || !existsSync(this.simPath)) {
      throw new Error(`socat ready but ${this.devPath} or ${this.simPath} missing:\n${this.stderr}`);
    }
  }

  /**
   * Stops socat, which is what unplugging the adapter looks like to the gateway: the pty goes away.
   * SIGKILL leaves the links dangling (as a by-id link would be removed only later by udev).
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill(signal);
    await this.exited;
    this.child = undefined;
  }

  async restart(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.start();
  }
}
