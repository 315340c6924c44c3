// The gateway's read-only HTTP endpoints, loopback by default: Prometheus /metrics, /healthz and /readyz
// (JSON with reasons, 503 when failing), /api/status (Gateway.status() plus totals, errors and health, read
// by `sluice status` and `sluice top`), /api/history and the status page at /; only for Host values that name
// this gateway (host.ts: DNS rebinding).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../errors.js';
import type { GatewayStatus } from '../status.js';
import { checkHealth, type HealthReport, type ObservedGateway } from './health.js';
import { History, sampleQueue, type Sample } from './history.js';
import { hostAllowed } from './host.js';
import { RateLimitedLog, redact } from './log.js';
import type { ComponentTotals, ErrorEvent, ProcessorTotals } from './metrics.js';
import { renderStatusPage } from './status-page.js';

/** The body of GET /api/status. */
export interface StatusSnapshot extends GatewayStatus {
  readonly now: number;
  readonly components: ComponentTotals[];
  /** Per processor of every chain; absent from gateways older than processors. */
  readonly processors?: ProcessorTotals[];
  readonly errors: ErrorEvent[];
  readonly health: HealthReport;
}

export interface ObserveServerOptions {
  /** Overrides observe.http.listen / port (tests use port 0). */
  readonly listen?: string;
  readonly port?: number;
}

export class ObserveServer {
  readonly history: History;
  private timer: NodeJS.Timeout | undefined;
  private readonly limited: RateLimitedLog;

  private constructor(
    private readonly gw: ObservedGateway,
    private readonly server: Server,
  ) {
    this.history = new History(gw.config.observe.history.samples);
    this.limited = new RateLimitedLog(gw.log);
  }

  /** Where it listens, e.g. `http://127.0.0.1:9464`. */
  get url(): string {
    const addr = this.server.address() as AddressInfo;
    return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  }

  static async start(gw: ObservedGateway, options: ObserveServerOptions = {}): Promise<ObserveServer> {
    const http = gw.config.observe.http;
    const listen = options.listen ?? http.listen;
    const port = options.port ?? http.port;
    const server = createServer();
    const self = new ObserveServer(gw, server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      self.handle(req, res).catch((err: unknown) => {
        gw.log.error({ err: errorMessage(err), url: req.url }, 'http request failed');
        if (!res.headersSent)
          send(res, 500, 'application/json', JSON.stringify({ error: errorMessage(err) }));
        else res.destroy();
      });
    });
    // Slow or idle clients must not hold sockets on a small device.
    server.requestTimeout = 10_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, listen, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => gw.log.error({ err: errorMessage(err) }, 'http server error'));
    gw.metrics.enableProcessMetrics();
    self.sample();
    self.timer = setInterval(() => self.sample(), gw.config.observe.history.sample_interval_ms);
    self.timer.unref();
    gw.log.info({ url: self.url }, 'http listening');
    return self;
  }

  private sample(): void {
    try {
      this.history.push(sampleQueue(this.gw.queue));
    } catch (err) {
      // The queue is closed while the gateway stops; anything else is worth a line in the log.
      this.gw.log.warn({ err: errorMessage(err) }, 'history sample failed');
    }
  }

  async snapshot(): Promise<StatusSnapshot> {
    const health = await checkHealth(this.gw, 'ready');
    const snapshot: StatusSnapshot = {
      ...this.gw.status(),
      now: Date.now(),
      components: this.gw.metrics.componentTotals(),
      processors: this.gw.metrics.processorTotals(),
      errors: this.gw.metrics.recentErrors(),
      health,
    };
    // Health details and error messages can quote a URL with a password in it: same rules as the logs.
    return redact(snapshot) as StatusSnapshot;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { listen, allowed_hosts } = this.gw.config.observe.http;
    if (!hostAllowed(req.headers.host, { listen, allowed: allowed_hosts })) {
      // One key for every foreign Host: a flood of made-up names must not grow the limiter's map.
      this.limited.warn(
        'foreign-host',
        { host: req.headers.host, remote: req.socket.remoteAddress, url: req.url },
        'http request for another host refused (DNS rebinding?); add its name to observe.http.allowed_hosts if it is this gateway',
      );
      send(
        res,
        421,
        'text/plain; charset=utf-8',
        'Misdirected Request: the Host header does not name this gateway (see observe.http.allowed_hosts)\n',
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'application/json', JSON.stringify({ error: 'read-only: GET or HEAD' }));
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    switch (path) {
      case '/metrics': {
        const reg = this.gw.metrics.registry;
        send(res, 200, reg.contentType, await reg.metrics());
        return;
      }
      case '/healthz':
      case '/readyz': {
        const report = await checkHealth(this.gw, path === '/healthz' ? 'live' : 'ready');
        send(res, report.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(report));
        return;
      }
      case '/api/status':
        send(res, 200, 'application/json', JSON.stringify(await this.snapshot()));
        return;
      case '/api/history':
        send(res, 200, 'application/json', JSON.stringify(this.history.samples() satisfies Sample[]));
        return;
      case '/': {
        const s = await this.snapshot();
        const html = renderStatusPage({
          now: s.now,
          status: s,
          health: s.health,
          totals: s.components,
          processors: s.processors,
          errors: s.errors,
          history: this.history.samples(),
          windowMs:
            this.gw.config.observe.history.samples * this.gw.config.observe.history.sample_interval_ms,
          refreshSeconds: 10,
        });
        res.setHeader(
          'Content-Security-Policy',
          "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
        );
        send(res, 200, 'text/html; charset=utf-8', html);
        return;
      }
      default:
        send(res, 404, 'application/json', JSON.stringify({ error: `no such endpoint: ${path}` }));
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.server.closeIdleConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
