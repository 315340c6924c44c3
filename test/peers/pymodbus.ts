// A foreign Modbus RTU slave: Debian's python3-pymodbus (3.0.x) serving register tables on a serial port,
// usually the `sim` end of a socat pty pair (test/peers/socat.ts). It answers within about a millisecond of
// the request, as USB CDC-ACM devices and serial-to-TCP gateways behind virtual ports do.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What to run when pymodbus is missing; thrown verbatim so a reader can paste it. */
export const PYMODBUS_INSTALL = 'apt-get install -y python3-pymodbus python3-serial-asyncio';

const SCRIPT = fileURLToPath(new URL('./pymodbus/rtu_slave.py', import.meta.url));

/**
 * A python3 that can import pymodbus: Debian's /usr/bin/python3 first, since a python3 earlier on PATH
 * (pyenv, a virtualenv) does not see Debian's dist-packages.
 */
export function pymodbusPython(): string {
  const candidates = ['/usr/bin/python3', 'python3'];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import pymodbus, serial_asyncio; print(pymodbus.__version__)'], {
      encoding: 'utf8',
    });
    if (probe.status === 0) return python;
  }
  throw new Error(PYMODBUS_INSTALL);
}

/** Register tables per unit id; addresses are protocol addresses (0-based). */
export interface PymodbusUnit {
  readonly coils?: Readonly<Record<number, boolean>>;
  readonly discrete?: Readonly<Record<number, boolean>>;
  readonly holding?: Readonly<Record<number, number>>;
  readonly input?: Readonly<Record<number, number>>;
}

export interface PymodbusOptions {
  readonly baudRate: number;
  /** pyserial refuses parity on a Linux pty (EINVAL): use `none` (with 2 stop bits, as the spec says). */
  readonly parity: 'none' | 'even' | 'odd';
  readonly stopBits: 1 | 2;
  readonly units: Readonly<Record<number, PymodbusUnit>>;
}

export class PymodbusSlave {
  /** Requests pymodbus answered (it prints one line per answer). */
  served = 0;
  private stderr = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Starts the slave on `path` and resolves once its port is open. */
  static async start(path: string, opts: PymodbusOptions): Promise<PymodbusSlave> {
    const tables: Record<string, Record<string, Record<string, number | boolean>>> = {};
    for (const [unit, t] of Object.entries(opts.units)) {
      tables[unit] = {
        co: { ...t.coils },
        di: { ...t.discrete },
        hr: { ...t.holding },
        ir: { ...t.input },
      };
    }
    const parity = { none: 'N', even: 'E', odd: 'O' }[opts.parity];
    const child = spawn(
      pymodbusPython(),
      [SCRIPT, path, String(opts.baudRate), parity, String(opts.stopBits), JSON.stringify(tables)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const slave = new PymodbusSlave(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`pymodbus not ready after 10 s:\n${slave.stderr}`)),
        10_000,
      );
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (text: string) => {
        if (text.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.setEncoding('utf8');
      let partial = '';
      child.stderr?.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (/^served \d+$/.test(line)) slave.served++;
          else if (slave.stderr.length < 64_000) slave.stderr += `${line}\n`;
        }
      });
      child.once('error', (err) => fail(err));
      child.once('exit', (code, signal) =>
        fail(new Error(`pymodbus exited (${code ?? signal ?? '?'}) before it was ready:\n${slave.stderr}`)),
      );
    });
    return slave;
  }

  /** What pymodbus wrote to stderr besides its `served` lines (its error log). */
  get log(): string {
    return this.stderr;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }
}
