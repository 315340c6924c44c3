// A real Mosquitto broker for integration tests: generated config in a temp dir, loopback only, a free port,
// optional on-disk persistence that survives restart(); plus runners for mosquitto_pub and mosquitto_sub.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../helpers/net.mjs';

/** What to run when the binaries are missing; thrown verbatim so a reader can paste it. */
export const MOSQUITTO_INSTALL = 'apt-get install -y mosquitto mosquitto-clients';

const SEARCH = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin'];

/** Absolute path of a mosquitto binary (the broker lives in sbin, often not on a user's PATH). */
export function mosquittoBinary(name: 'mosquitto' | 'mosquitto_pub' | 'mosquitto_sub'): string {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SEARCH];
  for (const dir of dirs) {
    const path = join(dir, name);
    if (spawnSync('test', ['-x', path]).status === 0) return path;
  }
  throw new Error(MOSQUITTO_INSTALL);
}

export interface MosquittoOptions {
  /** Keep sessions and queued messages on disk across restart() (`persistence true`). */
  readonly persistence?: boolean;
  /** Extra lines for mosquitto.conf. */
  readonly extraConfig?: readonly string[];
}

export class Mosquitto {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly confFile: string,
  ) {}

  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    mosquittoBinary('mosquitto');
    const dir = mkdtempSync(join(tmpdir(), 'sluice-mosquitto-'));
    const port = await freePort();
    const conf = [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      // Running as root, mosquitto would switch to the `mosquitto` user and lose access to the temp dir.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      `persistence ${options.persistence === true ? 'true' : 'false'}`,
      `persistence_location ${dir}/`,
      'log_dest stdout',
      'log_type error',
      'log_type warning',
      'max_queued_messages 100000',
      ...(options.extraConfig ?? []),
    ];
    const confFile = join(dir, 'mosquitto.conf');
    writeFileSync(confFile, `${conf.join('\n')}\n`);
    const m = new Mosquitto(dir, port, confFile);
    await m.launch();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Output so far, for assertion messages. */
  get output(): string {
    return this.log;
  }

  private async launch(): Promise<void> {
    const child = spawn(mosquittoBinary('mosquitto'), ['-c', this.confFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (b: Buffer) => (this.log += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (this.log += b.toString()));
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null): void =>
        reject(new Error(`mosquitto exited (${code}) before listening:\n${this.log}`));
      child.once('exit', onExit);
      waitForPort(this.port).then(() => {
        child.off('exit', onExit);
        resolve();
      }, reject);
    });
  }

  /** SIGTERM and wait: mosquitto writes its persistence file on a clean exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs mosquitto_pub or mosquitto_sub to completion (killed after timeoutMs). */
export function runTool(
  name: 'mosquitto_pub' | 'mosquitto_sub',
  args: readonly string[],
  timeoutMs = 10_000,
): Promise<ToolResult> {
  const bin = mosquittoBinary(name);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
