// The three databases behind one small client: connect, run one parameterised query, close; each driver's
// errors turned into Sluice's codes (unreachable, auth, a query's SQLSTATE). Values arrive as the mapping and
// the check column need them: numbers, booleans, text, parsed JSON, and timestamps as the server's own text,
// since a JS Date would cut PostgreSQL's microseconds and repeat or skip rows at the last value.
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { SluiceError } from '../../errors.js';
import { readPassword } from '../../config/credentials.js';
import { clientTlsOptions } from '../../config/tls.js';
import { numericText, type Row } from './mapping.js';
import type { SqlConfig } from './schema.js';

export type Driver = SqlConfig['driver'];

export interface SqlClient {
  /** Runs `sql` with `params` bound (placeholders in the driver's own syntax, see `placeholder`). */
  query(sql: string, params: readonly unknown[]): Promise<Row[]>;
  close(): Promise<void>;
}

/** The n-th (1-based) bound parameter in the driver's syntax. */
export function placeholder(driver: Driver, n: number): string {
  return driver === 'postgres' ? `$${n}` : '?';
}

/** An identifier, quoted (a schema-qualified name part by part), so that any column name is safe in SQL. */
export function quoteIdent(driver: Driver, name: string): string {
  const q = driver === 'mysql' ? '`' : '"';
  return name
    .split('.')
    .map((part) => q + part.replaceAll(q, q + q) + q)
    .join('.');
}

/** Where the source connects, for messages (never the password). */
export function describeTarget(c: SqlConfig): string {
  return c.driver === 'sqlite'
    ? `sqlite ${c.path ?? ''}`
    : `${c.driver} ${c.host}:${port(c)}/${c.database ?? ''}`;
}

function port(c: SqlConfig): number {
  return c.port ?? (c.driver === 'postgres' ? 5432 : 3306);
}

export async function connect(c: SqlConfig): Promise<SqlClient> {
  const target = describeTarget(c);
  try {
    switch (c.driver) {
      case 'postgres':
        return await connectPostgres(c);
      case 'mysql':
        return await connectMysql(c);
      case 'sqlite':
        return connectSqlite(c);
    }
  } catch (err) {
    throw connectError(err, target);
  }
}

// PostgreSQL's text forms, as the parsers below receive them: timestamps stay text (microseconds), BIGINT
// and NUMERIC become numbers where exact.
const PG_TEXT_KEPT = new Set([1082, 1114, 1184]); // date, timestamp, timestamptz
const PG_NUMERIC = new Set([20, 1700]); // int8, numeric

async function connectPostgres(c: SqlConfig): Promise<SqlClient> {
  const client = new pg.Client({
    host: c.host,
    port: port(c),
    database: c.database,
    user: c.username,
    password: readPassword(c),
    // pg sends SNI only for a host name and checks the certificate against the host either way (Node 26
    // refuses an IP address as servername), so no servername here.
    ssl: c.tls ? clientTlsOptions(c.tls) : false,
    connectionTimeoutMillis: c.connect_timeout_ms,
    statement_timeout: c.query_timeout_ms,
    // Every timestamptz in UTC text, so that check values compare as text and read back the same.
    options: '-c TimeZone=UTC',
    application_name: 'sluice',
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (PG_TEXT_KEPT.has(oid)) return (v: string) => v;
        if (PG_NUMERIC.has(oid)) return numericText;
        return pg.types.getTypeParser(oid, format) as (v: string) => unknown;
      }) as typeof pg.types.getTypeParser,
    },
  });
  // A connection that breaks between queries emits 'error' on the client; the next query fails and the
  // source reconnects, so the event only needs a listener that keeps it from ending the process.
  let broken: Error | undefined;
  client.on('error', (err) => (broken = err));
  await client.connect();
  return {
    async query(sql, params) {
      if (broken) throw broken;
      const r = await client.query({ text: sql, values: [...params] });
      return r.rows as Row[];
    },
    close: () => client.end(),
  };
}

async function connectMysql(c: SqlConfig): Promise<SqlClient> {
  const conn = await mysql.createConnection({
    host: c.host,
    port: port(c),
    database: c.database,
    user: c.username,
    password: readPassword(c),
    connectTimeout: c.connect_timeout_ms,
    // The host name is checked against the certificate; an IP host with that check is refused by the schema
    // (mysql2 would check the name "localhost" instead of the address).
    ...(c.tls ? { ssl: { ...clientTlsOptions(c.tls), verifyIdentity: c.tls.verify_hostname } } : {}),
    dateStrings: true,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    typeCast(field, next) {
      // BOOLEAN is TINYINT(1) in MySQL and MariaDB.
      if (field.type === 'TINY' && field.length === 1) {
        const s = field.string();
        return s === null ? null : s !== '0';
      }
      if (field.type === 'NEWDECIMAL' || field.type === 'DECIMAL' || field.type === 'LONGLONG') {
        const s = field.string();
        return s === null ? null : numericText(s);
      }
      return next();
    },
  });
  let broken: Error | undefined;
  conn.on('error', (err: Error) => (broken = err));
  // TIMESTAMP columns are shown in the session zone: UTC, like PostgreSQL's above.
  await conn.query("SET time_zone = '+00:00'");
  return {
    async query(sql, params) {
      if (broken) throw broken;
      const [rows] = await conn.query({ sql, values: [...params], timeout: c.query_timeout_ms });
      return rows as Row[];
    },
    close: () => conn.end(),
  };
}

function connectSqlite(c: SqlConfig): SqlClient {
  // Read-only: the source never writes the logger's file; a writer holding a lock makes it wait, not fail.
  const db = new Database(c.path ?? '', {
    readonly: true,
    fileMustExist: true,
    timeout: c.connect_timeout_ms,
  });
  const statements = new Map<string, Database.Statement>();
  return {
    query(sql, params) {
      try {
        let st = statements.get(sql);
        if (!st) {
          st = db.prepare(sql);
          statements.set(sql, st);
        }
        return Promise.resolve(st.all(...params) as Row[]);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}

interface DriverError {
  readonly code?: unknown;
  readonly sqlState?: unknown;
  readonly errno?: unknown;
  readonly message?: unknown;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
]);

/** The SQLSTATE of a driver error (pg: `code`; mysql2: `sqlState`), if it has one. */
export function sqlState(err: unknown): string | undefined {
  const e = err as DriverError;
  if (typeof e?.sqlState === 'string') return e.sqlState;
  if (typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  return undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A failed connect: the peer is down or unreachable (retried), or refused the login (SLUICE_AUTH, retried). */
export function connectError(err: unknown, target: string): SluiceError {
  if (err instanceof SluiceError) return err;
  const e = err as DriverError;
  const state = sqlState(err);
  const code = typeof e?.code === 'string' ? e.code : '';
  // SQLSTATE class 28: invalid authorization (pg 28P01/28000, MySQL 28000 ER_ACCESS_DENIED_ERROR).
  if (state?.startsWith('28') || code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR') {
    return new SluiceError('SLUICE_AUTH', `${target} refused the login: ${messageOf(err)}`, {
      retriable: true, // a password fixed on the server lets the next attempt in; retried with backoff
      hint: 'check username, password (or password_file) and the server’s access rules (pg_hba.conf, GRANT)',
      cause: err,
    });
  }
  // Node's certificate checks: UNABLE_TO_VERIFY_LEAF_SIGNATURE, SELF_SIGNED_CERT_IN_CHAIN, ERR_TLS_CERT_ALTNAME_INVALID...
  // mysql2 wraps them as HANDSHAKE_SSL_ERROR.
  if (/CERT|SIGNATURE|^ERR_TLS_|^ERR_SSL_|^HANDSHAKE_SSL_ERROR$/.test(code)) {
    return new SluiceError(
      'SLUICE_AUTH',
      `${target}: the server's TLS certificate was refused: ${messageOf(err)}`,
      {
        retriable: true,
        hint: 'check tls.ca_file (the CA that signed the server certificate) and that the host name is in the certificate',
        cause: err,
      },
    );
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_NOTADB') {
    return new SluiceError('SLUICE_SOURCE_IO', `cannot open ${target}: ${messageOf(err)}`, {
      retriable: true, // the logger may create the file later; retried with backoff
      hint: 'check that the file exists, is a SQLite database and that the gateway user may read it',
      cause: err,
    });
  }
  const why = NETWORK_CODES.has(code) || code === '' ? messageOf(err) : `${code}: ${messageOf(err)}`;
  return new SluiceError('SLUICE_UPSTREAM_UNREACHABLE', `cannot connect to ${target}: ${why}`, {
    hint: 'check that the database server runs, listens on host:port and that the network reaches it',
    cause: err,
  });
}

/** Whether a query failure means the connection is gone (reconnect) rather than a bad query. */
export function connectionLost(err: unknown): boolean {
  const e = err as DriverError;
  const code = typeof e?.code === 'string' ? e.code : '';
  const state = sqlState(err);
  // 08: connection exception; 57P01-03: the server is shutting down or restarting.
  return (
    NETWORK_CODES.has(code) ||
    state?.startsWith('08') === true ||
    state?.startsWith('57P') === true ||
    /Connection terminated|connection is in closed state|Can't add new command when connection is in closed state/i.test(
      messageOf(err),
    )
  );
}

/** A query the database refused: its SQLSTATE and message (a wrong column, a missing table, a permission). */
export function queryError(err: unknown, target: string): SluiceError {
  if (err instanceof SluiceError) return err;
  const state = sqlState(err);
  const code = (err as DriverError)?.code;
  const tag = state ? `SQLSTATE ${state}` : typeof code === 'string' ? code : 'error';
  return new SluiceError(
    'SLUICE_SQL_QUERY',
    `${target} refused the import query (${tag}): ${messageOf(err)}`,
    {
      cause: err,
    },
  );
}
