// Real SQL servers for the sql source's tests and bench: Debian's PostgreSQL (initdb) and MariaDB
// (mariadb-install-db), each in a temp data directory on a free loopback port, with a password login; stop()
// ends the server and removes the directory, leaving no process behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { freePort, waitForPort } from '../helpers/net.mjs';
import { until } from '../helpers/wait.mjs';

export const SQL_INSTALL =
  'apt-get install -y postgresql mariadb-server mariadb-client (test/setup/debian-packages.txt)';

export const USER = 'sluice';
export const PASSWORD = 'sluice-test-pw';
export const DATABASE = 'plant';

/** PostgreSQL refuses to run as root: as root, its files and process belong to `nobody`. */
const RUN_AS = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;

/** The newest PostgreSQL's bin directory (Debian keeps it off PATH, under /usr/lib/postgresql/<major>/bin). */
export function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => /^\d+$/.test(d))
        .sort((a, b) => +b - +a)
    : [];
  for (const m of majors) {
    const p = join(root, m, 'bin', name);
    if (existsSync(p)) return p;
  }
  throw new Error(`no ${name} under ${root}/*/bin: ${SQL_INSTALL}`);
}

function mariadbBin(name: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`no ${name}: ${SQL_INSTALL}`);
}

/** A server process and its output, stopped with `signal` and killed if it does not exit in time. */
class ServerProcess {
  private log = '';
  private exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    private readonly stopSignal: NodeJS.Signals,
  ) {
    child.stdout?.on('data', (b: Buffer) => (this.log += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (this.log += b.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get output(): string {
    return this.log.slice(-4000);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill(this.stopSignal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

function run(cmd: string, args: readonly string[], asServerUser = false): void {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    cwd: tmpdir(),
    ...(asServerUser && RUN_AS ? RUN_AS : {}),
  });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? ''}${r.stdout}${r.stderr}`);
}

export interface PostgresOptions {
  /** Serve TLS with this certificate and key as well as plain connections (hostssl and host lines). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** A database server in its temp directory: its output, and a stop that leaves no process or file. */
abstract class DbServer {
  protected constructor(
    readonly dir: string,
    readonly port: number,
    private readonly server: ServerProcess,
  ) {}

  get output(): string {
    return this.server.output;
  }

  async stop(): Promise<void> {
    await this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class Postgres extends DbServer {
  private constructor(dir: string, port: number, server: ServerProcess) {
    super(dir, port, server);
  }

  static async start(options: PostgresOptions = {}): Promise<Postgres> {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-pg-'));
    if (RUN_AS) chownSync(dir, RUN_AS.uid, RUN_AS.gid);
    const data = join(dir, 'data');
    const pwfile = join(dir, 'pw');
    writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
    if (RUN_AS) chownSync(pwfile, RUN_AS.uid, RUN_AS.gid);
    run(
      postgresBin('initdb'),
      ['-D', data, '-U', USER, '--pwfile', pwfile, '--auth=scram-sha-256', '-E', 'UTF8', '--no-sync'],
      true,
    );
    const port = await freePort();
    const conf = [
      `listen_addresses = '127.0.0.1'`,
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      'fsync = off', // a test server: speed over durability of the peer's own files
      'max_connections = 40',
    ];
    if (options.tls) {
      for (const [from, to] of [
        [options.tls.cert, 'server.crt'],
        [options.tls.key, 'server.key'],
      ] as const) {
        copyFileSync(from, join(data, to));
        chmodSync(join(data, to), 0o600);
        if (RUN_AS) chownSync(join(data, to), RUN_AS.uid, RUN_AS.gid);
      }
      conf.push('ssl = on', `ssl_cert_file = 'server.crt'`, `ssl_key_file = 'server.key'`);
    }
    writeFileSync(join(data, 'postgresql.auto.conf'), `${conf.join('\n')}\n`);
    if (RUN_AS) chownSync(join(data, 'postgresql.auto.conf'), RUN_AS.uid, RUN_AS.gid);
    const child = spawn(postgresBin('postgres'), ['-D', data], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(RUN_AS ?? {}),
    });
    // SIGINT: PostgreSQL's fast shutdown (ends sessions, then exits with its children).
    const server = new ServerProcess(child, 'SIGINT');
    const p = new Postgres(dir, port, server);
    try {
      await waitForPort(port, '127.0.0.1', 30_000);
      // The port opens before the server takes logins ("the database system is starting up").
      await until(() => p.sql(`CREATE DATABASE ${DATABASE}`, [], 'postgres'), {
        timeoutMs: 30_000,
        what: 'PostgreSQL accepts logins',
      });
    } catch (err) {
      await p.stop();
      throw new Error(`PostgreSQL did not start: ${String(err)}\n${server.output}`);
    }
    return p;
  }

  /** Runs one statement in `database` (default the test database) as the test user. */
  async sql(text: string, params: readonly unknown[] = [], database = DATABASE): Promise<pg.QueryResult> {
    const c = new pg.Client({ host: '127.0.0.1', port: this.port, user: USER, password: PASSWORD, database });
    await c.connect();
    try {
      return await c.query(text, [...params]);
    } finally {
      await c.end();
    }
  }
}

export interface MariaDbOptions {
  /** Serve TLS with this certificate and key, and let the test user log in only over TLS (REQUIRE SSL). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

export class MariaDb extends DbServer {
  private constructor(
    dir: string,
    port: number,
    server: ServerProcess,
    private readonly tls: boolean,
  ) {
    super(dir, port, server);
  }

  static async start(options: MariaDbOptions = {}): Promise<MariaDb> {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-mariadb-'));
    const data = join(dir, 'data');
    const socket = join(dir, 'mysqld.sock');
    // As root, mariadbd must be told to stay root (--user); otherwise it runs as the invoking user.
    const user = process.getuid?.() === 0 ? ['--user=root'] : [];
    run(mariadbBin('mariadb-install-db'), [
      '--no-defaults',
      `--datadir=${data}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...user,
    ]);
    const port = await freePort();
    const child = spawn(
      mariadbBin('mariadbd'),
      [
        '--no-defaults',
        `--datadir=${data}`,
        `--socket=${socket}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        '--skip-log-bin',
        '--innodb-flush-log-at-trx-commit=0',
        ...(options.tls ? [`--ssl-cert=${options.tls.cert}`, `--ssl-key=${options.tls.key}`] : []),
        ...user,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new ServerProcess(child, 'SIGTERM');
    const m = new MariaDb(dir, port, server, options.tls !== undefined);
    try {
      await waitForPort(port, '127.0.0.1', 60_000);
      const root = await mysql.createConnection({ socketPath: socket, user: 'root' });
      await root.query(`CREATE DATABASE ${DATABASE}`);
      await root.query(
        `CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'${options.tls ? ' REQUIRE SSL' : ''}`,
      );
      await root.query(`GRANT ALL ON ${DATABASE}.* TO '${USER}'@'%'`);
      await root.end();
    } catch (err) {
      await m.stop();
      throw new Error(`MariaDB did not start: ${String(err)}\n${server.output}`);
    }
    return m;
  }

  /** Runs one statement in the test database as the test user. */
  async sql(text: string, params: readonly unknown[] = []): Promise<unknown> {
    const c = await mysql.createConnection({
      host: '127.0.0.1',
      port: this.port,
      user: USER,
      password: PASSWORD,
      database: DATABASE,
      // The fixture's own statements: encrypted as the user requires, the certificate not checked here.
      ...(this.tls ? { ssl: { rejectUnauthorized: false } } : {}),
    });
    try {
      const [rows] = await c.query(text, [...params]);
      return rows;
    } finally {
      await c.end();
    }
  }
}
