// Runs an `sql` source in-process against a real database and a real durable queue in a temp dir, with the
// gateway's own scoping of source state; reads back what reached the queue.
import type { z } from 'zod';
import type { SourceContext } from '../../../gateway/components.js';
import { GatewayMetrics } from '../../../gateway/observe/metrics.js';
import { silentLogger } from '../../../gateway/observe/log.js';
import { Queue } from '../../../gateway/queue/queue.js';
import type { QueuedReading } from '../../../gateway/reading.js';
import { SqlSource, schema } from '../../../gateway/sources/sql/index.js';
import { tempDir } from '../../helpers/tmp.js';
import { DATABASE, PASSWORD, USER } from '../../peers/sql.js';

export type SqlInput = z.input<typeof schema>;

/** A config for a server peer on 127.0.0.1:`port` with the test login. */
export function serverConfig(driver: 'postgres' | 'mysql', port: number, rest: Partial<SqlInput>): SqlInput {
  return {
    type: 'sql',
    driver,
    host: '127.0.0.1',
    port,
    database: DATABASE,
    username: USER,
    password: PASSWORD,
    poll_interval_ms: 50,
    retry: { initial_ms: 20, max_ms: 200 },
    incremental: { mode: 'append', check_column: 'id' },
    ...rest,
  };
}

export class SqlHarness {
  readonly rejections: Array<{ reason: string; device?: string | undefined; detail?: string | undefined }> =
    [];
  source: SqlSource | undefined;

  constructor(
    readonly queue: Queue = Queue.open({ dir: tempDir(), maxBytes: 1024 ** 3, onFull: 'reject_new' }),
    readonly name = 'plant-db',
  ) {}

  /** Starts a source on this queue (a restart when one ran before: its state is read back from the queue). */
  async start(input: SqlInput): Promise<SqlSource> {
    await this.stop();
    const source = new SqlSource(this.name, schema.parse(input));
    const metrics = new GatewayMetrics('gw-test').forComponent('source', this.name, 'sql');
    const ctx: SourceContext = {
      gatewayId: 'gw-test',
      log: silentLogger,
      metrics,
      ingest: (readings, options) => {
        const s = options?.sourceState;
        return this.queue.append(
          readings,
          s ? { ...options, sourceState: { key: `${this.name}/${s.key}`, value: s.value } } : options,
        );
      },
      readState: (key) => this.queue.sourceState(`${this.name}/${key}`),
      reject: (reason, device, detail) => void this.rejections.push({ reason, device, detail }),
    };
    await source.start(ctx);
    this.source = source;
    return source;
  }

  async stop(): Promise<void> {
    await this.source?.close();
    this.source = undefined;
  }

  readings(): QueuedReading[] {
    const out: QueuedReading[] = [];
    for (let after = 0; ;) {
      const batch = this.queue.readSized(after, 10_000).readings;
      if (batch.length === 0) return out;
      out.push(...batch);
      after = batch[batch.length - 1]!.seq;
    }
  }

  async close(): Promise<void> {
    await this.stop();
    await this.queue.close();
  }
}
