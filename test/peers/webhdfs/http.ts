// HTTP plumbing shared by the two servers: a loopback listener that can go down (connections refused, open
// ones dropped) and come back on the same port, and the response shapes both servers use.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export class Listener {
  private readonly server: Server;
  private port = 0;
  private listening = false;

  constructor(handler: Handler, onInternalError: (err: unknown) => void) {
    this.server = createServer((req, res) => {
      handler(req, res).catch((err: unknown) => {
        // A handler that throws is an emulator bug: record it for the tests and cut the exchange.
        onInternalError(err);
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'text/plain', Connection: 'close' });
          res.end('webhdfs emulator internal error\n');
        } else {
          res.destroy();
        }
      });
    });
    // Connection: close on every answer would be wrong for the namenode; idle keep-alive sockets are cut by
    // stop() instead.
    this.server.keepAliveTimeout = 5_000;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get portNumber(): number {
    return this.port;
  }

  get isUp(): boolean {
    return this.listening;
  }

  /** Listens on 127.0.0.1: an ephemeral port the first time, the same port afterwards. */
  async start(): Promise<void> {
    if (this.listening) return;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.listening = true;
  }

  /** Stops accepting (new connections are refused) and drops every open connection mid-flight. */
  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve, reject) => {
      this.server.close((err) => (err === undefined ? resolve() : reject(err)));
    });
    this.server.closeAllConnections();
    await closed;
  }
}

/** Headers Hadoop's HttpServer2 adds to every namenode answer. */
export const NAMENODE_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-cache',
  Pragma: 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'X-FRAME-OPTIONS': 'SAMEORIGIN',
  'X-XSS-Protection': '1; mode=block',
};

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': String(bytes.length),
  });
  res.end(bytes);
}

/** A zero-length answer, as Response.ok().build() or a datanode's 201/200 sends it. */
export function sendEmpty(
  res: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, { ...headers, 'Content-Length': '0' });
  res.end();
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  const bytes = Buffer.from(text);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain;charset=utf-8',
    'Content-Length': String(bytes.length),
  });
  res.end(bytes);
}

/** Reads and discards what is left of a request body, up to `limit` bytes; past that the socket is cut. */
export async function drain(req: IncomingMessage, limit: number): Promise<void> {
  if (req.complete || req.destroyed) return;
  let seen = 0;
  await new Promise<void>((resolve) => {
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) {
        req.socket.destroy();
        resolve();
      }
    });
    req.on('end', resolve);
    req.on('close', resolve);
  });
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/** The path part of a WebHDFS URL: everything after /webhdfs/v1, decoded; undefined when not WebHDFS. */
export function webhdfsPath(pathname: string): string | undefined {
  const prefix = '/webhdfs/v1';
  if (pathname !== prefix && !pathname.startsWith(`${prefix}/`)) return undefined;
  const rest = pathname.slice(prefix.length);
  return rest === '' ? '/' : decodeURIComponent(rest);
}

/** Percent-encodes a path for a Location header, keeping the slashes. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
