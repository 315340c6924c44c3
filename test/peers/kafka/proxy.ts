// A loopback fault proxy in front of one Kafka node's PROXIED listener (whose advertised port is the proxy's,
// so a client that bootstraps there keeps talking through it). It reads the Kafka framing (int32 size, then
// the request header: api_key, api_version, correlation_id; a response starts with the correlation_id) so a
// test can lose exactly the response it wants: a Produce response after the broker has written the records,
// which is the case idempotent producers exist for.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { KafkaClusterInfo } from './info.js';

const PRODUCE = 0;

/** Splits a byte stream into Kafka frames (size-prefixed), whatever the TCP segmentation. */
class Frames {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 4) {
      const size = this.buf.readInt32BE(0);
      if (this.buf.length < 4 + size) break;
      out.push(this.buf.subarray(0, 4 + size));
      this.buf = this.buf.subarray(4 + size);
    }
    return out;
  }
}

export class KafkaFaultProxy {
  /** Produce requests that passed, and Produce responses withheld (their connection was cut instead). */
  produceRequests = 0;
  droppedProduceResponses = 0;
  private dropNext = 0;
  private refusing = false;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** One proxy per node of the cluster's PROXIED listeners (started with `proxied: true`). */
  static async forCluster(info: Pick<KafkaClusterInfo, 'proxied'>): Promise<KafkaFaultProxy[]> {
    if (info.proxied.length === 0)
      throw new Error('this Kafka cluster was started without proxied listeners');
    return Promise.all(info.proxied.map((p) => KafkaFaultProxy.start(p.advertised, p.target)));
  }

  /** The PROXIED listeners' addresses, for a client's bootstrap list. */
  static bootstrap(info: Pick<KafkaClusterInfo, 'proxied'>): string[] {
    return info.proxied.map((p) => `127.0.0.1:${p.advertised}`);
  }

  /** Listens on 127.0.0.1:listenPort and forwards every connection to 127.0.0.1:targetPort. */
  static start(listenPort: number, targetPort: number): Promise<KafkaFaultProxy> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      const proxy = new KafkaFaultProxy(server, listenPort);
      server.on('connection', (client) => proxy.pipe(client, targetPort));
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => resolve(proxy));
    });
  }

  /** A network outage: every connection is cut and new ones are closed at once, until up(). */
  down(): void {
    this.refusing = true;
    for (const s of this.sockets) s.destroy();
  }

  up(): void {
    this.refusing = false;
  }

  /** The next `n` Produce responses never reach the client: the connection is cut when each arrives. */
  dropProduceResponses(n: number): void {
    this.dropNext += n;
  }

  private pipe(client: Socket, targetPort: number): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    this.sockets.add(client);
    this.sockets.add(upstream);
    const apiKeys = new Map<number, number>(); // correlation id -> api key, per connection
    const requests = new Frames();
    const responses = new Frames();
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      for (const frame of requests.push(chunk)) {
        const apiKey = frame.readInt16BE(4);
        apiKeys.set(frame.readInt32BE(8), apiKey);
        if (apiKey === PRODUCE) this.produceRequests++;
        upstream.write(frame);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      for (const frame of responses.push(chunk)) {
        const correlation = frame.readInt32BE(4);
        const apiKey = apiKeys.get(correlation);
        apiKeys.delete(correlation);
        if (apiKey === PRODUCE && this.dropNext > 0) {
          this.dropNext--;
          this.droppedProduceResponses++;
          cut(); // the broker has written and answered; the client never learns it
          return;
        }
        if (!client.destroyed) client.write(frame);
      }
    });
    for (const s of [client, upstream]) {
      s.on('error', cut); // a reset on one side ends the other, as a real network failure would
      s.on('close', () => {
        this.sockets.delete(s);
        cut();
      });
    }
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
