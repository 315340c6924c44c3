// A loopback WebHDFS proxy in front of the REAL NameNodes and DataNodes (test/peers/hdfs), for the faults a
// real cluster does not give on demand: an upload cut mid-body, a slow answer, an answer lost after the
// request took effect, the next N operations refused with a chosen status. The NameNodes' redirects are
// rewritten so that the DataNode uploads pass through it too, and it counts every operation as it arrives
// (a real cluster tells nobody when a request arrived). Everything else is Hadoop's own answer, unchanged.
// Plain http only: the simple and HA variants (the secure one's SPNEGO and TLS are tested without it).
import {
  createServer,
  request,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export type Role = 'namenode' | 'datanode';

/** Which requests a fault applies to: a role, WebHDFS ops (upper case), or both; empty matches all. */
export interface Match {
  readonly role?: Role;
  readonly ops?: readonly string[];
}

export interface FaultProxy {
  /** Base URLs (http://127.0.0.1:port) to configure the sink with, one per NameNode given, same order. */
  readonly namenodes: readonly string[];
  /** Operations that have arrived so far, by role and op (CREATE at the NameNode, then at a DataNode). */
  count(role: Role, ...ops: string[]): number;
  counters(): Record<Role, Record<string, number>>;
  /** Milliseconds spent upstream per role and op, from arrival to the end of Hadoop's answer (summed). */
  timings(): Record<Role, Record<string, number>>;
  /** What the faults did so far: uploads cut, answers dropped, requests refused. */
  readonly injected: { cut: number; dropped: number; refused: number };
  /** The next `times` matching uploads (DataNode CREATE/APPEND by default): `afterBytes` of the body go to
   * the DataNode, then both connections are cut. Hadoop closes what it received: a torn file. */
  cutUpload(afterBytes: number, times?: number, match?: Match): void;
  /** Matching answers wait `ms` ('response': the request has already taken effect upstream) or requests
   * wait `ms` before they are forwarded ('request': they land after a client that timed out has gone on;
   * bodiless ops only, which is every NameNode op the sink sends). 0 clears. */
  delay(ms: number, match?: Match, phase?: 'request' | 'response'): void;
  /** The next `times` matching requests are carried out upstream; their answers never reach the client. */
  dropResponse(times: number, match?: Match): void;
  /** The next `times` matching requests are answered `status` with `body` and never forwarded. */
  refuse(times: number, status: number, match?: Match, body?: string): void;
  /** Clears every fault (the counters stay). */
  heal(): void;
  close(): Promise<void>;
}

interface Rule {
  left: number;
  readonly match: Match;
}
interface Refusal extends Rule {
  readonly status: number;
  readonly body: string;
}
interface Cut extends Rule {
  readonly afterBytes: number;
}
interface Delay {
  readonly ms: number;
  readonly match: Match;
  readonly phase: 'request' | 'response';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const matches = (m: Match, role: Role, op: string): boolean =>
  (m.role === undefined || m.role === role) && (m.ops === undefined || m.ops.includes(op));

/** Starts listeners in front of each NameNode base URL (http://host:port); DataNodes get theirs lazily. */
export async function startFaultProxy(upstreams: readonly string[]): Promise<FaultProxy> {
  const counts: Record<Role, Record<string, number>> = { namenode: {}, datanode: {} };
  const millis: Record<Role, Record<string, number>> = { namenode: {}, datanode: {} };
  const injected = { cut: 0, dropped: 0, refused: 0 };
  let refusals: Refusal[] = [];
  let cuts: Cut[] = [];
  let drops: Rule[] = [];
  let delays: Delay[] = [];
  /** Upstream origin -> the proxy's URL for it. */
  const fronts = new Map<string, Promise<string>>();
  const servers: Server[] = [];

  /** Takes one use of the first live rule that matches, if any. */
  const take = <R extends Rule>(rules: R[], role: Role, op: string): R | undefined => {
    const rule = rules.find((r) => r.left > 0 && matches(r.match, role, op));
    if (rule) rule.left--;
    return rule;
  };
  const delayOf = (role: Role, op: string, phase: Delay['phase']): number =>
    delays.find((d) => d.phase === phase && matches(d.match, role, op))?.ms ?? 0;

  /** The proxy URL standing in for a DataNode (or NameNode) origin; its listener starts on first use. */
  const front = (origin: string, role: Role): Promise<string> => {
    let url = fronts.get(origin);
    if (url === undefined) {
      url = listen(origin, role);
      fronts.set(origin, url);
    }
    return url;
  };

  async function listen(origin: string, role: Role): Promise<string> {
    const target = new URL(origin);
    const server = createServer((req, res) => void handle(target, role, req, res));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function handle(target: URL, role: Role, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const op = new URL(req.url ?? '/', 'http://x').searchParams.get('op')?.toUpperCase() ?? '?';
    counts[role][op] = (counts[role][op] ?? 0) + 1;
    const arrived = performance.now();
    res.on('close', () => (millis[role][op] = (millis[role][op] ?? 0) + performance.now() - arrived));
    const refusal = take(refusals, role, op);
    if (refusal) {
      injected.refused++;
      req.resume();
      res.writeHead(refusal.status, { 'Content-Type': 'application/json' }).end(refusal.body);
      return;
    }
    const hold = delayOf(role, op, 'request');
    if (hold > 0) await sleep(hold); // forwarded even if the client has given up meanwhile: it lands late
    const drop = take(drops, role, op);
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => void respond(answer, role, op, res, drop !== undefined),
    );
    up.on('error', () => res.destroy());
    const bodiless =
      req.headers['transfer-encoding'] === undefined && Number(req.headers['content-length'] ?? 0) === 0;
    if (bodiless) {
      // Complete already: sent whole even when the client has gone meanwhile (a delayed request lands late).
      req.resume();
      up.end();
      return;
    }
    // A client that went away mid-body (killed, timed out) ends its upload here as it would at Hadoop.
    req.on('error', () => up.destroy());
    req.on('aborted', () => up.destroy());
    const cut = take(cuts, role, op);
    if (cut === undefined) {
      req.pipe(up);
      return;
    }
    injected.cut++;
    // A body no longer than the cut still loses its last byte: the DataNode must see it torn.
    const at = Math.min(cut.afterBytes, Number(req.headers['content-length'] ?? Infinity) - 1);
    let sent = 0;
    const cutBoth = (): void => {
      up.destroy();
      req.socket.destroy();
    };
    req.on('data', (chunk: Buffer) => {
      if (sent >= at) return;
      const part = chunk.subarray(0, at - sent);
      sent += part.length;
      if (sent < at) up.write(part);
      // Once the part is on the wire (and read by the DataNode): both connections go, mid-body.
      else up.write(part, () => setTimeout(cutBoth, 20));
    });
    req.on('end', () => sent < at && cutBoth());
  }

  async function respond(
    answer: IncomingMessage,
    role: Role,
    op: string,
    res: ServerResponse,
    drop: boolean,
  ): Promise<void> {
    if (drop) {
      // The whole answer is read (the operation is complete upstream), then the client's connection dies.
      injected.dropped++;
      answer.resume();
      answer.on('end', () => res.socket?.destroy());
      return;
    }
    const headers: OutgoingHttpHeaders = { ...answer.headers };
    const location = answer.headers.location;
    if (role === 'namenode' && location !== undefined && /^https?:/.test(location)) {
      const to = new URL(location);
      const via = new URL(await front(to.origin, 'datanode'));
      to.protocol = via.protocol;
      to.host = via.host;
      headers.location = to.toString();
    }
    const wait = delayOf(role, op, 'response');
    if (wait > 0) await sleep(wait);
    if (res.destroyed) return void answer.resume();
    res.writeHead(answer.statusCode ?? 502, headers);
    answer.pipe(res);
  }

  const namenodes = await Promise.all(upstreams.map((u) => front(new URL(u).origin, 'namenode')));
  return {
    namenodes,
    injected,
    count: (role, ...ops) => ops.reduce((n, op) => n + (counts[role][op] ?? 0), 0),
    counters: () => ({ namenode: { ...counts.namenode }, datanode: { ...counts.datanode } }),
    timings: () => ({ namenode: { ...millis.namenode }, datanode: { ...millis.datanode } }),
    cutUpload(afterBytes, times = 1, match = { role: 'datanode', ops: ['CREATE', 'APPEND'] }) {
      cuts.push({ left: times, match, afterBytes });
    },
    delay(ms, match = {}, phase = 'response') {
      delays = delays.filter((d) => d.phase !== phase || JSON.stringify(d.match) !== JSON.stringify(match));
      if (ms > 0) delays.push({ ms, match, phase });
    },
    dropResponse(times, match = {}) {
      drops.push({ left: times, match });
    },
    refuse(times, status, match = {}, body = remoteException(status)) {
      refusals.push({ left: times, match, status, body });
    },
    heal() {
      refusals = [];
      cuts = [];
      drops = [];
      delays = [];
    },
    async close() {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/** A Hadoop-shaped refusal body: what a NameNode or DataNode under strain answers. */
function remoteException(status: number): string {
  const exception = status === 403 ? 'RetriableException' : 'IOException';
  return JSON.stringify({
    RemoteException: {
      exception,
      javaClassName: `org.apache.hadoop.ipc.${exception}`,
      message: `injected by the fault proxy (HTTP ${status})`,
    },
  });
}
