// The agent: opens the queue, starts one runner per sink (each with its cursor), then the sources; stops in
// the reverse order so that nothing is accepted that cannot be queued, and nothing queued is lost.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ComponentDeps, ComponentHealth, Sink, Source, SourceContext } from '../components.js';
import type { Config, SinkConfig, SourceConfig } from '../config/schema.js';
import { SluiceError, errorMessage } from '../errors.js';
import { createLogger, RateLimitedLog } from '../observe/log.js';
import { Telemetry } from '../observe/metrics.js';
import { Queue, type QueueStats } from '../queue/queue.js';
import type { Reading } from '../reading.js';
import { sinks as sinkRegistry } from '../sinks/index.js';
import { sources as sourceRegistry } from '../sources/index.js';
import { SinkRunner, type SinkRunnerStatus } from './sink-runner.js';

export interface GatewayOptions {
  readonly log?: Logger;
  /** Benchmarks only: open the queue without fsync. */
  readonly unsafeNoSync?: boolean;
}

export interface GatewayStatus {
  readonly gateway: string;
  readonly startedAt: number;
  readonly queue: QueueStats;
  readonly sources: ReadonlyArray<{
    name: string;
    type: string;
    health: ComponentHealth;
    rejected: Record<string, number>;
  }>;
  readonly sinks: readonly SinkRunnerStatus[];
}

export class Gateway {
  readonly telemetry: Telemetry;
  readonly queue: Queue;
  readonly startedAt = Date.now();
  private readonly sources: Array<{ source: Source; rejections: Map<string, number> }> = [];
  private readonly runners: SinkRunner[] = [];
  private stopped: Promise<void> | undefined;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    options: GatewayOptions,
  ) {
    this.telemetry = new Telemetry(config.gateway.id);
    this.queue = Queue.open({
      dir: join(config.gateway.data_dir, 'queue'),
      maxBytes: config.queue.max_bytes,
      onFull: config.queue.on_full,
      noSync: options.unsafeNoSync === true,
    });
    this.telemetry.watchQueue(this.queue);
  }

  static async start(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
    const log = options.log ?? createLogger({ level: config.log.level, gatewayId: config.gateway.id });
    const gw = new Gateway(config, log, options);
    try {
      for (const [name, sc] of Object.entries(config.sinks)) await gw.startSink(name, sc);
      for (const [name, sc] of Object.entries(config.sources)) await gw.startSource(name, sc);
    } catch (err) {
      await gw.stop();
      throw err;
    }
    const stats = gw.queue.stats();
    log.info(
      {
        depth: stats.depth,
        last_seq: stats.lastSeq,
        sources: Object.keys(config.sources),
        sinks: Object.keys(config.sinks),
      },
      'gateway started',
    );
    const orphans = gw.queue.cursorNames().filter((c) => !(c in config.sinks));
    if (orphans.length > 0) {
      log.warn(
        { cursors: orphans },
        'queue cursors of sinks no longer configured hold readings; remove them with `sluice queue drop-cursor` if the sinks are gone for good',
      );
    }
    return gw;
  }

  /** Ingest used by every source: durable append plus the source's metrics. */
  private contextFor(name: string, type: string, rejections: Map<string, number>): SourceContext {
    const metrics = this.telemetry.forComponent('source', name, type);
    const log = this.log.child({ component: name, component_type: type });
    const limited = new RateLimitedLog(log);
    return {
      gatewayId: this.config.gateway.id,
      log,
      metrics,
      ingest: async (readings: readonly Reading[]) => {
        const result = await this.queue.append(readings);
        metrics.received(readings.length, 0);
        return result;
      },
      reject: (reason, device, detail) => {
        metrics.discarded(1, reason);
        const key = `${device ?? '-'}/${reason}`;
        if (rejections.size < 10_000 || rejections.has(key))
          rejections.set(key, (rejections.get(key) ?? 0) + 1);
        limited.warn(key, { reason, device, detail }, 'input rejected');
      },
    };
  }

  private deps(name: string, kind: 'source' | 'sink', type: string): ComponentDeps {
    return {
      gatewayId: this.config.gateway.id,
      dataDir: this.config.gateway.data_dir,
      log: this.log.child({ component: name, component_type: type }),
      metrics: this.telemetry.forComponent(kind, name, type),
    };
  }

  private async startSink(name: string, sc: SinkConfig): Promise<void> {
    const def = sinkRegistry.find((d) => d.type === sc.type);
    if (!def) throw new SluiceError('SLUICE_CONFIG_INVALID', `unknown sink type ${sc.type}`);
    const deps = this.deps(name, 'sink', sc.type);
    // The registry entry matching sc.type takes exactly this config; TypeScript cannot narrow a union of
    // definitions by the `type` it was found with, so say it once here (redundant while one type exists).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    const sink = (def.create as (n: string, c: SinkConfig, d: ComponentDeps) => Sink)(name, sc, deps);
    const runner = new SinkRunner(
      sink,
      this.queue,
      { startFrom: sc.start_from, batch: sc.batch, retry: sc.retry },
      deps.log,
      deps.metrics,
    );
    await runner.start();
    this.runners.push(runner);
  }

  private async startSource(name: string, sc: SourceConfig): Promise<void> {
    const def = sourceRegistry.find((d) => d.type === sc.type);
    if (!def) throw new SluiceError('SLUICE_CONFIG_INVALID', `unknown source type ${sc.type}`);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- as for sinks above
    const create = def.create as (n: string, c: SourceConfig, d: ComponentDeps) => Source;
    const source = create(name, sc, this.deps(name, 'source', sc.type));
    const rejections = new Map<string, number>();
    await source.start(this.contextFor(name, sc.type, rejections));
    this.sources.push({ source, rejections });
  }

  status(): GatewayStatus {
    return {
      gateway: this.config.gateway.id,
      startedAt: this.startedAt,
      queue: this.queue.stats(),
      sources: this.sources.map(({ source, rejections }) => ({
        name: source.name,
        type: source.type,
        health: source.health(),
        rejected: Object.fromEntries(rejections),
      })),
      sinks: this.runners.map((r) => r.status()),
    };
  }

  /** Graceful stop: sources first (nothing new accepted), then sinks flush within shutdown_timeout_ms. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    this.log.info('stopping');
    await Promise.all(
      this.sources.map(({ source }) =>
        source
          .close()
          .catch((err: unknown) =>
            this.log.error({ err: errorMessage(err), source: source.name }, 'source close failed'),
          ),
      ),
    );
    const timeout = this.config.shutdown_timeout_ms;
    let timer: NodeJS.Timeout | undefined;
    const flushed = Promise.all(
      this.runners.map((r) =>
        r
          .stop()
          .catch((err: unknown) =>
            this.log.error({ err: errorMessage(err), sink: r.sink.name }, 'sink stop failed'),
          ),
      ),
    );
    const late = await Promise.race([
      flushed.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeout))),
    ]);
    clearTimeout(timer);
    if (late)
      this.log.warn(
        { timeout_ms: timeout },
        'sinks did not finish within shutdown_timeout_ms; their readings stay queued',
      );
    await this.queue.close();
    this.log.info('stopped');
  }
}
