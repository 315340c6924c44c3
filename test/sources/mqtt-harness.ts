// Runs an MQTT source in-process on a real durable queue in a temp dir, recording what the source reports
// (rejections, errors), so that tests can assert on the queue and the counters.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { z } from 'zod';
import type { Source, SourceContext } from '../../gateway/components.js';
import { silentLogger } from '../../gateway/observe/log.js';
import type { ComponentMetrics } from '../../gateway/metrics-spec.js';
import { Queue, type OnFull } from '../../gateway/queue/queue.js';
import type { QueuedReading } from '../../gateway/reading.js';
import { MqttBrokerSource, schema as brokerSchema } from '../../gateway/sources/mqtt-broker/index.js';
import { MqttClientSource, schema as clientSchema } from '../../gateway/sources/mqtt-client.js';
import { tempDir } from '../helpers/tmp.js';

export interface Harness<S extends Source> {
  readonly source: S;
  readonly queue: Queue;
  readonly dir: string;
  readonly rejections: Array<{ reason: string; device: string | undefined; detail: string | undefined }>;
  readonly errors: Array<{ stage: string; kind: string }>;
  readings(): QueuedReading[];
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly maxBytes?: number;
  readonly onFull?: OnFull;
  /** Replaces the queue append (to inject failures). */
  readonly ingest?: (queue: Queue, next: SourceContext['ingest']) => SourceContext['ingest'];
}

async function run<S extends Source>(source: S, options: HarnessOptions): Promise<Harness<S>> {
  const dir = tempDir('sluice-mqtt-');
  const queue = Queue.open({
    dir,
    maxBytes: options.maxBytes ?? 64 * 1024 * 1024,
    onFull: options.onFull ?? 'drop_oldest',
  });
  const rejections: Harness<S>['rejections'] = [];
  const errors: Harness<S>['errors'] = [];
  const metrics: ComponentMetrics = {
    received: () => undefined,
    sent: () => undefined,
    error: (stage, kind) => errors.push({ stage, kind }),
    discarded: () => undefined,
  };
  const append: SourceContext['ingest'] = (readings) => queue.append(readings);
  const ctx: SourceContext = {
    gatewayId: 'gw-test',
    log: silentLogger,
    metrics,
    ingest: options.ingest ? options.ingest(queue, append) : append,
    reject: (reason, device, detail) => rejections.push({ reason, device, detail }),
  };
  await source.start(ctx);
  return {
    source,
    queue,
    dir,
    rejections,
    errors,
    readings: () => queue.readSized(0, 1_000_000).readings,
    async close() {
      await source.close();
      await queue.close();
    },
  };
}

const deps = {
  gatewayId: 'gw-test',
  dataDir: '/nonexistent',
  log: silentLogger,
  metrics: {
    received: () => undefined,
    sent: () => undefined,
    error: () => undefined,
    discarded: () => undefined,
  },
};

export function startBroker(
  config: Omit<z.input<typeof brokerSchema>, 'type'>,
  options: HarnessOptions = {},
): Promise<Harness<MqttBrokerSource>> {
  const parsed = brokerSchema.parse({ type: 'mqtt_broker', ...config });
  return run(new MqttBrokerSource('mqtt', parsed, deps), options);
}

export function startClientSource(
  config: Omit<z.input<typeof clientSchema>, 'type'>,
  options: HarnessOptions = {},
): Promise<Harness<MqttClientSource>> {
  const parsed = clientSchema.parse({ type: 'mqtt', ...config });
  return run(new MqttClientSource('upstream', parsed, deps), options);
}

/** The port the broker bound for a listener type (listeners in tests bind port 0). */
export function portOf(
  h: Harness<MqttBrokerSource>,
  type: 'tcp' | 'tls' | 'ws' | 'wss',
  host?: string,
): number {
  const l = h.source.bound.find(
    (b) => b.config.type === type && (host === undefined || b.config.host === host),
  );
  if (!l) throw new Error(`no ${type} listener bound`);
  return l.port;
}

/** An MQTT.js client connected (or the CONNACK refusal as a rejection). */
export function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

/** MQTT's variable-length integer (the remaining length of a fixed header). */
export function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** One MQTT packet by hand, for tests that need what no client library sends: header byte, length, body. */
export function rawPacket(header: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([header, ...remainingLength(body.length)]), body]);
}

/** CONNECT: MQTT 3.1.1, clean session, keep-alive 60 s, no credentials. */
export function rawConnect(clientId: string): Buffer {
  const id = Buffer.from(clientId);
  return rawPacket(0x10, Buffer.from([0, 4, ...Buffer.from('MQTT'), 4, 0x02, 0, 60, 0, id.length, ...id]));
}
