// The broker's network side: TCP, TLS and WebSocket listeners, and the gate that refuses connections over the
// rate limit or the cap before any MQTT (or TLS) work is spent on them.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, isIP, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { z } from 'zod';
import { serverTlsOptions, tlsServerFields } from '../../config/tls.js';
import { SluiceError } from '../../errors.js';

const port = z.number().int().min(0).max(65_535);
const host = z
  .string()
  .min(1)
  .default('0.0.0.0')
  .describe('Address to bind (`0.0.0.0`: every IPv4 interface, `::`: every interface).');
const allowAnonymous = z
  .boolean()
  .default(false)
  .describe(
    'Accept clients without credentials. Only the implicit loopback listener does by default (as Mosquitto 2.0).',
  );

const wsPath = z.string().startsWith('/').default('/mqtt').describe('HTTP path of the WebSocket endpoint.');
const tlsFields = {
  allow_anonymous: allowAnonymous,
  ...tlsServerFields,
  client_certs: z
    .enum(['none', 'optional', 'required'])
    .default('none')
    .describe(
      'Ask for client certificates; a valid one whose CN equals the client id authenticates the client (`required`: no certificate, no connection).',
    ),
};

export const listenerSchema = z.discriminatedUnion('type', [
  z
    .strictObject({ type: z.literal('tcp'), host, port: port.default(1883), allow_anonymous: allowAnonymous })
    .describe('Plain MQTT over TCP.'),
  z
    .strictObject({ type: z.literal('tls'), host, port: port.default(8883), ...tlsFields })
    .describe('MQTT over TLS.'),
  z
    .strictObject({
      type: z.literal('ws'),
      host,
      port: port.default(8080),
      allow_anonymous: allowAnonymous,
      path: wsPath,
    })
    .describe('MQTT over WebSocket (ws://).'),
  z
    .strictObject({ type: z.literal('wss'), host, port: port.default(8443), ...tlsFields, path: wsPath })
    .describe('MQTT over WebSocket over TLS (wss://); client certificates as for `tls`.'),
]);
export type ListenerConfig = z.output<typeof listenerSchema>;

/** With no listener configured: loopback only, anonymous allowed there (Mosquitto 2.0's local-only mode). */
export const DEFAULT_LISTENERS: ListenerConfig[] = [
  { type: 'tcp', host: '127.0.0.1', port: 1883, allow_anonymous: true },
];

export function isLoopback(address: string): boolean {
  if (address === 'localhost' || address === '::1') return true;
  return isIP(address) === 4 && address.startsWith('127.');
}

/** A bound listener: its config and the port it got (differs from the config for port 0). */
export interface ListenerInfo {
  readonly config: ListenerConfig;
  readonly port: number;
  readonly label: string;
}

export interface GateOptions {
  readonly maxConnections: number;
  /** Most simultaneous connections from one remote address (0: no cap). */
  readonly maxConnectionsPerIp: number;
  readonly ratePerS: number;
  readonly burst: number;
}

export type GateVerdict = 'ok' | 'max_connections' | 'max_connections_per_ip' | 'rate_limited';

/**
 * Connection cap, per-address cap and a token bucket of new connections per second (0 disables each).
 * The per-address counts live only while that address has connections: bounded by the cap, not by history.
 */
export class ConnectionGate {
  private open = 0;
  private readonly perIp = new Map<string, number>();
  private tokens: number;
  private refilledAt = Date.now();

  constructor(private readonly o: GateOptions) {
    this.tokens = o.burst;
  }

  get connections(): number {
    return this.open;
  }

  /** Admits a new socket from `remote` (and counts it until `release(remote)`), or says why not. */
  admit(remote: string | undefined, now = Date.now()): GateVerdict {
    if (this.o.maxConnections > 0 && this.open >= this.o.maxConnections) return 'max_connections';
    const ip = remoteKey(remote);
    const fromIp = this.perIp.get(ip) ?? 0;
    if (this.o.maxConnectionsPerIp > 0 && fromIp >= this.o.maxConnectionsPerIp)
      return 'max_connections_per_ip';
    if (this.o.ratePerS > 0) {
      this.tokens = Math.min(this.o.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.o.ratePerS);
      this.refilledAt = now;
      if (this.tokens < 1) return 'rate_limited';
      this.tokens -= 1;
    }
    this.open++;
    this.perIp.set(ip, fromIp + 1);
    return 'ok';
  }

  release(remote: string | undefined): void {
    this.open--;
    const ip = remoteKey(remote);
    const left = (this.perIp.get(ip) ?? 1) - 1;
    if (left > 0) this.perIp.set(ip, left);
    else this.perIp.delete(ip);
  }
}

/** One key per host: an IPv4 address arriving on a dual-stack socket (`::ffff:10.0.0.7`) counts as itself. */
function remoteKey(remote: string | undefined): string {
  if (remote === undefined) return '-';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}

export type ConnectionHandler = (conn: Duplex, listener: ListenerInfo, req?: IncomingMessage) => void;
export type RefusalHandler = (
  verdict: Exclude<GateVerdict, 'ok'>,
  listener: ListenerConfig,
  remote: string | undefined,
) => void;

export class Listeners {
  private readonly servers: Array<{ server: Server | HttpServer; wss?: WebSocketServer }> = [];
  /** Every admitted socket, MQTT session or not, so that close() does not wait for idle ones. */
  private readonly sockets = new Set<Socket>();
  readonly bound: ListenerInfo[] = [];

  constructor(
    private readonly configs: readonly ListenerConfig[],
    private readonly gate: ConnectionGate,
    private readonly onConnection: ConnectionHandler,
    private readonly onRefused: RefusalHandler,
    private readonly onServerError: (err: Error, listener: ListenerConfig) => void,
  ) {}

  async start(): Promise<void> {
    try {
      for (const c of this.configs) await this.listen(c);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private async listen(c: ListenerConfig): Promise<void> {
    let server: Server | HttpServer;
    let wss: WebSocketServer | undefined;
    const info = { config: c, port: c.port, label: '' };
    if (c.type === 'tcp') {
      server = createTcpServer((sock) => this.onConnection(sock, info));
    } else if (c.type === 'tls') {
      server = createTlsServer(tlsOptions(c), (sock) => this.onConnection(sock, info));
      // A failed handshake is the peer's problem, but never silent: it is reported like any server error.
      server.on('tlsClientError', (err: Error) => this.onServerError(err, c));
    } else {
      const refuse = (_req: IncomingMessage, res: ServerResponse): void => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n');
      };
      const http = c.type === 'wss' ? createHttpsServer(tlsOptions(c), refuse) : createHttpServer(refuse);
      if (c.type === 'wss') http.on('tlsClientError', (err: Error) => this.onServerError(err, c));
      server = http;
      wss = new WebSocketServer({ server: http, path: c.path });
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        this.onConnection(stream, info, req);
      });
      wss.on('error', (err) => this.onServerError(err, c));
    }
    // Gate raw sockets first: a flood costs an accept and a close, not a TLS handshake or an MQTT parse.
    server.on('connection', (sock: Socket) => {
      // Read now: a socket that is already gone by close has no remoteAddress left.
      const remote = sock.remoteAddress;
      const verdict = this.gate.admit(remote);
      if (verdict !== 'ok') {
        this.onRefused(verdict, c, remote);
        sock.destroy();
        return;
      }
      this.sockets.add(sock);
      sock.once('close', () => {
        this.sockets.delete(sock);
        this.gate.release(remote);
      });
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new SluiceError(
            'SLUICE_SOURCE_IO',
            `cannot listen on ${c.type} ${c.host}:${c.port}: ${err.message}`,
            {
              hint:
                err.code === 'EADDRINUSE'
                  ? 'another process holds the port (a mosquitto service?); stop it or pick another port'
                  : 'check the listener host and port',
              cause: err,
            },
          ),
        );
      };
      server.once('error', onError);
      server.listen(c.port, c.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err: Error) => this.onServerError(err, c));
    const addr = server.address();
    info.port = typeof addr === 'object' && addr !== null ? addr.port : c.port;
    info.label = `${c.type}://${c.host}:${info.port}${c.type === 'ws' || c.type === 'wss' ? c.path : ''}`;
    this.servers.push(wss ? { server, wss } : { server });
    this.bound.push(info);
  }

  /** Stops accepting and drops every connection (sessions end; unacknowledged messages are re-sent later). */
  async close(): Promise<void> {
    const servers = this.servers.splice(0);
    const closed = servers.map(
      ({ server, wss }) =>
        new Promise<void>((resolve) => {
          wss?.close();
          server.close(() => resolve());
        }),
    );
    for (const sock of this.sockets) sock.destroy();
    await Promise.all(closed);
  }
}

/** Server certificate, and client certificates as configured, for `tls` and `wss` listeners. */
function tlsOptions(c: Extract<ListenerConfig, { type: 'tls' | 'wss' }>): TlsOptions {
  return {
    ...serverTlsOptions(c),
    requestCert: c.client_certs !== 'none',
    rejectUnauthorized: c.client_certs === 'required',
  };
}
