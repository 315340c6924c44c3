// The gateway: opens the queue, starts one runner per sink (each with its cursor), then the sources; stops in
// the reverse order so that nothing is accepted that cannot be queued, and nothing queued is lost. apply()
// changes the pipeline in place: the queue stays open, unchanged components keep running, changed ones are
// replaced under the same name (so a sink resumes from its own cursor).
import { join } from 'node:path';
import type { Logger } from 'pino';
import type {
  AppendOptions,
  ComponentDeps,
  IngestResult,
  Sink,
  Source,
  SourceContext,
} from '../components.js';
import { PIPELINE_KEYS, canonicalJson } from '../config/bootstrap.js';
import type { Config, SinkConfig, SourceConfig } from '../config/schema.js';
import { SluiceError, errorMessage, toSluiceError } from '../errors.js';
import { createLogger, RateLimitedLog } from '../observe/log.js';
import { GatewayMetrics } from '../observe/metrics.js';
import { ProcessorChain } from '../processors/chain.js';
import type { ProcessorConfig } from '../processors/index.js';
import { chainedIngest } from '../processors/source-ingest.js';
import { Queue, newQueueFirstSeq } from '../queue/queue.js';
import type { Reading } from '../reading.js';
import { sinks as sinkRegistry } from '../sinks/index.js';
import { sources as sourceRegistry } from '../sources/index.js';
import { within } from './retry.js';
import type { ControlStatus, GatewayStatus } from '../status.js';
import { SinkRunner } from './sink-runner.js';

export interface GatewayOptions {
  readonly log?: Logger;
  /** Benchmarks only: open the queue without fsync. */
  readonly unsafeNoSync?: boolean;
}

/** What apply() changed, by component name. */
export interface ApplySummary {
  readonly started: readonly string[];
  readonly replaced: readonly string[];
  readonly stopped: readonly string[];
  readonly unchanged: readonly string[];
}

interface RunningSource {
  readonly config: SourceConfig;
  readonly source: Source;
  readonly rejections: Map<string, number>;
}

interface RunningSink {
  readonly config: SinkConfig;
  readonly runner: SinkRunner;
}

export class Gateway {
  readonly metrics: GatewayMetrics;
  readonly queue: Queue;
  readonly startedAt = Date.now();
  private current: Config;
  private readonly sources = new Map<string, RunningSource>();
  private readonly sinks = new Map<string, RunningSink>();
  /** apply() and stop() run one at a time, in call order. */
  private turn: Promise<unknown> = Promise.resolve();
  private stopped: Promise<void> | undefined;
  private control: (() => ControlStatus) | undefined;

  private constructor(
    config: Config,
    readonly log: Logger,
    options: GatewayOptions,
  ) {
    this.current = config;
    this.metrics = new GatewayMetrics(config.gateway.id);
    this.queue = Queue.open({
      dir: join(config.gateway.data_dir, 'queue'),
      maxBytes: config.queue.max_bytes,
      onFull: config.queue.on_full,
      commitMode: config.queue.commit_mode,
      commitDelayMs: config.queue.commit_delay_ms,
      noSync: options.unsafeNoSync === true,
      firstSeq: newQueueFirstSeq(),
    });
    this.metrics.watchQueue(this.queue);
  }

  /** The config in force (the last one applied). */
  get config(): Config {
    return this.current;
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
    gw.warnOrphanCursors();
    return gw;
  }

  /**
   * Switches to `next` without a restart. Sinks first (a replaced runner flushes, then its successor reads on
   * from the same cursor), then sources (each changed one is closed, its in-flight ingests settle, and the
   * new one starts). Readings of unchanged sources keep flowing into the queue throughout. If a component
   * fails to start, the others are still switched and the error is thrown: applying the previous config
   * then restores what ran before, since the diff is made against what is actually running.
   */
  apply(next: Config): Promise<ApplySummary> {
    const run = this.turn.then(() => this.doApply(next));
    this.turn = run.catch(() => undefined); // the caller gets the error from `run`
    return run;
  }

  private async doApply(next: Config): Promise<ApplySummary> {
    if (this.stopped) throw new SluiceError('SLUICE_SHUTDOWN', 'the gateway is stopping');
    const fixed = (c: Config): string =>
      canonicalJson(Object.entries(c).filter(([k]) => !PIPELINE_KEYS.includes(k)));
    if (fixed(next) !== fixed(this.current))
      throw new SluiceError('SLUICE_CONFIG_INVALID', 'only the pipeline can change without a restart', {
        hint: 'gateway and observe settings take effect at the next start',
      });
    const summary = { started: [] as string[], replaced: [] as string[], stopped: [] as string[] };
    const unchanged: string[] = [];
    const failures: string[] = [];
    let firstError: unknown;
    const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        failures.push(`${what}: ${errorMessage(err)}`);
        firstError ??= err;
      }
    };
    this.queue.setLimits({
      maxBytes: next.queue.max_bytes,
      onFull: next.queue.on_full,
      commitMode: next.queue.commit_mode,
      commitDelayMs: next.queue.commit_delay_ms,
    });
    this.log.level = next.log.level;
    this.current = next;

    for (const name of [...this.sinks.keys()].filter((n) => !(n in next.sinks))) {
      await attempt(`sink ${name}`, () => this.stopSink(name));
      summary.stopped.push(`sink ${name}`);
    }
    for (const [name, sc] of Object.entries(next.sinks)) {
      const running = this.sinks.get(name);
      if (running && canonicalJson(running.config) === canonicalJson(sc)) {
        unchanged.push(`sink ${name}`);
        continue;
      }
      if (running) await attempt(`sink ${name}`, () => this.stopSink(name));
      await attempt(`sink ${name}`, () => this.startSink(name, sc));
      (running ? summary.replaced : summary.started).push(`sink ${name}`);
    }
    for (const name of [...this.sources.keys()].filter((n) => !(n in next.sources))) {
      await attempt(`source ${name}`, () => this.stopSource(name));
      summary.stopped.push(`source ${name}`);
    }
    for (const [name, sc] of Object.entries(next.sources)) {
      const running = this.sources.get(name);
      if (running && canonicalJson(running.config) === canonicalJson(sc)) {
        unchanged.push(`source ${name}`);
        continue;
      }
      if (running) await attempt(`source ${name}`, () => this.stopSource(name));
      await attempt(`source ${name}`, () => this.startSource(name, sc));
      (running ? summary.replaced : summary.started).push(`source ${name}`);
    }
    this.log.info(
      { ...summary, failures },
      failures.length ? 'config applied with failures' : 'config applied',
    );
    if (failures.length > 0) {
      const err = toSluiceError(firstError, 'SLUICE_CONFIG_INVALID', 'applying the config failed');
      const { code, retriable, hint } = err;
      throw new SluiceError(code, failures.join('; '), { retriable, hint, cause: firstError });
    }
    this.warnOrphanCursors();
    return { ...summary, unchanged };
  }

  private warnOrphanCursors(): void {
    const orphans = this.queue.cursorNames().filter((c) => !(c in this.current.sinks));
    if (orphans.length > 0) {
      this.log.warn(
        { cursors: orphans },
        'queue cursors of sinks no longer configured hold readings; remove them with `sluice queue drop-cursor` if the sinks are gone for good',
      );
    }
  }

  /**
   * A source's or sink's `processors:` chain, built (and its filters compiled) once per component start;
   * undefined when the list is empty, so that a component without processors runs exactly as before.
   */
  private chainFor(
    kind: 'source' | 'sink',
    name: string,
    configs: readonly ProcessorConfig[],
    log: Logger,
  ): ProcessorChain | undefined {
    if (configs.length === 0) return undefined;
    const limited = new RateLimitedLog(log);
    return ProcessorChain.build(
      configs,
      {
        side: kind,
        component: name,
        gatewayId: this.current.gateway.id,
        fleetLabels: this.current.fleet?.labels ?? [],
      },
      (label, type) => this.metrics.forProcessor(kind, name, label, type),
      (processor, reason, detail) =>
        limited.warn(
          `${processor}/${reason}`,
          { processor, reason, detail },
          'processor failed on a reading',
        ),
    );
  }

  /**
   * Ingest used by every source: its processors, then the durable append, plus the source's metrics. What
   * the chain drops resolves as handled (the device gets its acknowledgement) and is counted as discarded.
   */
  private contextFor(
    name: string,
    type: string,
    rejections: Map<string, number>,
    processors: readonly ProcessorConfig[],
  ): SourceContext {
    const metrics = this.metrics.forComponent('source', name, type);
    const log = this.log.child({ component: name, component_type: type });
    const limited = new RateLimitedLog(log);
    const chain = this.chainFor('source', name, processors, log);
    // A source's state keys live under its name, so that two sources never share or clobber one.
    const toQueue = (rs: readonly Reading[], o?: AppendOptions): Promise<IngestResult> => {
      const state = o?.sourceState;
      return this.queue.append(
        rs,
        state ? { ...o, sourceState: { key: `${name}/${state.key}`, value: state.value } } : o,
      );
    };
    const append = chain
      ? chainedIngest(
          chain,
          toQueue,
          () => this.queue.lastSeq,
          (n) => metrics.discarded(n, 'processor_dropped'),
        )
      : toQueue;
    return {
      gatewayId: this.current.gateway.id,
      log,
      metrics,
      ingest: async (readings: readonly Reading[], options?: AppendOptions) => {
        const result = await append(readings, options);
        // An append's sequences are consecutive (queue/store.ts); none when the chain left nothing.
        metrics.sent(result.lastSeq - result.firstSeq + 1, result.bytes);
        return result;
      },
      readState: (key) => this.queue.sourceState(`${name}/${key}`),
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
      gatewayId: this.current.gateway.id,
      dataDir: this.current.gateway.data_dir,
      log: this.log.child({ component: name, component_type: type }),
      metrics: this.metrics.forComponent(kind, name, type),
    };
  }

  private async startSink(name: string, sc: SinkConfig): Promise<void> {
    const def = sinkRegistry.find((d) => d.type === sc.type);
    if (!def) throw new SluiceError('SLUICE_CONFIG_INVALID', `unknown sink type ${sc.type}`);
    const deps = this.deps(name, 'sink', sc.type);
    // The registry entry matching sc.type takes exactly this config; TypeScript cannot narrow a union of
    // definitions by the `type` it was found with, so say it once here.
    const create = def.create as (n: string, c: SinkConfig, d: ComponentDeps) => Sink | Promise<Sink>;
    const processors = this.chainFor('sink', name, sc.processors, deps.log);
    const runner = new SinkRunner(
      await create(name, sc, deps),
      this.queue,
      {
        startFrom: sc.start_from,
        batch: sc.batch,
        retry: sc.retry,
        processors,
        stateDir: join(deps.dataDir, 'processors'),
      },
      deps.log,
      deps.metrics,
    );
    await runner.start();
    this.sinks.set(name, { config: sc, runner });
  }

  /**
   * Stops a runner: the sink commits what it holds; anything not acked is read again by its successor. A
   * sink stuck in a call is abandoned after shutdown_timeout_ms (the runner logs it), so that a hung sink
   * never holds up the next config.
   */
  private async stopSink(name: string): Promise<void> {
    const running = this.sinks.get(name);
    if (!running) return;
    this.sinks.delete(name);
    await running.runner.stop(this.current.shutdown_timeout_ms);
  }

  private async startSource(name: string, sc: SourceConfig): Promise<void> {
    const def = sourceRegistry.find((d) => d.type === sc.type);
    if (!def) throw new SluiceError('SLUICE_CONFIG_INVALID', `unknown source type ${sc.type}`);
    const create = def.create as (n: string, c: SourceConfig, d: ComponentDeps) => Source | Promise<Source>;
    const source = await create(name, sc, this.deps(name, 'source', sc.type));
    const rejections = new Map<string, number>();
    try {
      // Bounded like a stop: a start that never returns (a hung device open) must not hold up the gateway
      // or the next config; the source is closed and the start fails (a pushed config is rolled back).
      const ms = this.current.shutdown_timeout_ms;
      const starting = source.start(this.contextFor(name, sc.type, rejections, sc.processors));
      if (!(await within(starting, ms))) {
        throw new SluiceError('SLUICE_SOURCE_IO', `source ${name} did not start within ${ms} ms`, {
          hint: 'check the device or listener it opens; shutdown_timeout_ms bounds starting and stopping a component',
        });
      }
      await starting;
    } catch (err) {
      // Release whatever it bound before failing (half the listeners), so a retry or a revert can bind them.
      await this.closeSource(source, this.current.shutdown_timeout_ms);
      throw err;
    }
    this.sources.set(name, { config: sc, source, rejections });
  }

  private async stopSource(name: string): Promise<void> {
    const running = this.sources.get(name);
    if (!running) return;
    this.sources.delete(name);
    await this.closeSource(running.source, this.current.shutdown_timeout_ms);
  }

  /** Closes a source, waiting at most `ms`: one that does not close in time is left behind, and logged. */
  private async closeSource(source: Source, ms: number): Promise<void> {
    const closed = source
      .close()
      .catch((err: unknown) =>
        this.log.error({ err: errorMessage(err), source: source.name }, 'source close failed'),
      );
    if (!(await within(closed, ms)))
      this.log.error(
        { source: source.name, timeout_ms: ms },
        'source did not close in time; left behind, its in-flight readings were not acknowledged',
      );
  }

  /** Lets the layer that feeds configs (fleet channels, reloads) add its state to status(). */
  reportControl(report: () => ControlStatus): void {
    this.control = report;
  }

  status(): GatewayStatus {
    return {
      gateway: this.current.gateway.id,
      startedAt: this.startedAt,
      queue: this.queue.stats(),
      sources: [...this.sources.values()].map(({ source, rejections }) => ({
        name: source.name,
        type: source.type,
        health: source.health(),
        rejected: Object.fromEntries(rejections),
      })),
      sinks: [...this.sinks.values()].map((s) => s.runner.status()),
      control: this.control?.() ?? null,
    };
  }

  /** Graceful stop: sources first (nothing new accepted), then sinks flush within shutdown_timeout_ms. */
  stop(): Promise<void> {
    this.stopped ??= this.turn.then(() => this.doStop());
    return this.stopped;
  }

  /** One deadline for the whole stop: sources closing and sinks flushing share shutdown_timeout_ms. */
  private async doStop(): Promise<void> {
    this.log.info('stopping');
    const timeout = this.current.shutdown_timeout_ms;
    const deadline = Date.now() + timeout;
    await Promise.all([...this.sources.values()].map(({ source }) => this.closeSource(source, timeout)));
    const inTime = await Promise.all(
      [...this.sinks.values()].map(({ runner }) =>
        runner.stop(Math.max(0, deadline - Date.now())).catch((err: unknown) => {
          this.log.error({ err: errorMessage(err), sink: runner.sink.name }, 'sink stop failed');
          return true;
        }),
      ),
    );
    if (inTime.includes(false))
      this.log.warn(
        { timeout_ms: timeout },
        'sinks did not finish within shutdown_timeout_ms; their readings stay queued',
      );
    await this.queue.close();
    this.log.info('stopped');
  }
}
