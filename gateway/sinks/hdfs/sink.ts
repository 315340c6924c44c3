// The HDFS sink: readings go into the open generation (one staged file per directory), and when any roll
// condition holds the whole generation is committed at once, so the runner's ack (committedThrough = the
// generation's last sequence) never covers a reading whose file is not final. Any failure drops the
// generation; the next write first runs recovery, which decides from HDFS alone what is delivered.
import { clientTlsOptions } from '../../config/tls.js';
import type { ComponentDeps, ComponentHealth, Sink, SinkProgress } from '../../components.js';
import { failedHealth } from '../../components.js';
import { SluiceError, toSluiceError } from '../../errors.js';
import type { QueuedReading } from '../../reading.js';
import { Committer, type Manifest } from './commit.js';
import { encoder } from './encode.js';
import { defaultCompression } from './formats.js';
import type { HdfsSinkConfig } from './schema.js';
import { expandDir, parseTemplate, type PathTemplate } from './paths.js';
import { WebHdfsClient } from './client.js';
import { WebHdfsError } from './classify.js';
import { delegationTokens, type DelegationTokens } from './tokens.js';
import { Generation, type GenerationSettings } from './writer.js';

const PARALLEL_UPLOADS = 4;

export class HdfsSink implements Sink {
  readonly type = 'hdfs';
  private readonly client: WebHdfsClient;
  private readonly committer: Committer;
  private readonly template: PathTemplate;
  private readonly settings: GenerationSettings;
  /** Highest sequence in a committed generation: readings up to it are delivered, whatever the cursor says. */
  private delivered = 0;
  private gen: Generation | undefined;
  /** Dropped generations whose uploads may still be in flight: recovery waits for them to settle first. */
  private abandoned: Promise<void>[] = [];
  /** False until recovery ran against HDFS, and again after any failure. */
  private recovered = false;
  /** The delegation token sent on every request (all auth types but pseudo). */
  private readonly tokens: DelegationTokens | undefined;
  private status: ComponentHealth = { state: 'starting' };

  constructor(
    readonly name: string,
    private readonly config: HdfsSinkConfig,
    private readonly deps: ComponentDeps,
  ) {
    this.template = parseTemplate(config.path);
    const stateDir = config.state_dir ?? `${this.template.staticPrefix}/_sluice`;
    const stateRoot = `${stateDir.replace(/\/+$/, '')}/${deps.gatewayId}/${name}`;
    this.client = new WebHdfsClient({
      namenodes: config.namenodes,
      auth: () => this.authParams(),
      ...(config.tls === undefined ? {} : { tls: clientTlsOptions(config.tls) }),
      requestTimeoutMs: config.request_timeout_ms,
    });
    this.tokens = delegationTokens(config.auth, this.client, deps.log);
    this.committer = new Committer(this.client, stateRoot, deps.log);
    this.settings = {
      encoder: encoder(
        config.format,
        config.compression ?? defaultCompression(config.format),
        deps.gatewayId,
      ),
      prefix: config.prefix,
      gatewayId: deps.gatewayId,
      stateRoot,
      uploadBufferBytes: config.upload_buffer_bytes,
      create: {
        ...(config.permission === undefined ? {} : { permission: config.permission }),
        ...(config.replication === undefined ? {} : { replication: config.replication }),
        ...(config.block_size === undefined ? {} : { blockSize: config.block_size }),
      },
    };
  }

  async connect(): Promise<void> {
    try {
      this.gen = undefined;
      this.recovered = false;
      await this.recover();
      this.status = { state: 'healthy', detail: `delivered through seq ${this.delivered}` };
    } catch (err) {
      throw this.fail(err);
    }
  }

  async write(batch: readonly QueuedReading[]): Promise<SinkProgress> {
    try {
      if (!this.recovered) await this.recover();
      const now = Date.now();
      let committed: number | undefined;
      let bytes: number | undefined;
      for (const r of batch) {
        if (r.seq <= this.delivered) {
          committed = r.seq; // in a final file already (written before a crash or a failed ack)
          continue;
        }
        const gen = (this.gen ??= new Generation(r.seq, now, this.settings));
        const time = this.config.time_source === 'reading' ? r.ts : now;
        const f = await gen.add(this.client, expandDir(this.template, r, this.deps.gatewayId, time), r, now);
        if (Generation.full(f, this.config.max_file_bytes, this.config.max_file_readings)) {
          const rolled = await this.roll();
          committed = rolled.committedThrough;
          bytes = (bytes ?? 0) + rolled.bytes;
        }
      }
      if (this.gen !== undefined && this.due(now)) {
        const rolled = await this.roll();
        committed = rolled.committedThrough;
        bytes = (bytes ?? 0) + rolled.bytes;
      }
      if (this.gen === undefined && batch.length > 0) committed = batch[batch.length - 1]?.seq;
      if (committed === undefined) return {};
      return bytes === undefined ? { committedThrough: committed } : { committedThrough: committed, bytes };
    } catch (err) {
      this.drop();
      throw this.fail(err);
    }
  }

  async flush(reason: 'idle' | 'shutdown'): Promise<SinkProgress> {
    try {
      if (!this.recovered) await this.recover();
      if (this.gen === undefined) return {};
      if (reason === 'idle' && !this.due(Date.now())) return {};
      return await this.roll();
    } catch (err) {
      this.drop();
      throw this.fail(err);
    }
  }

  async close(): Promise<void> {
    // An open generation here was not flushed (the runner flushes first): its readings are still queued,
    // and its staged files are removed by the next recovery.
    this.drop();
    await this.tokens?.release();
    this.client.close();
    this.status = { state: 'stopped' };
  }

  health(): ComponentHealth {
    // Whose token and until when: what an operator needs before it expires (never the token itself).
    const token = this.tokens?.describe();
    if (token === undefined || this.status.state !== 'healthy') return this.status;
    const detail = this.status.detail === undefined ? token : `${this.status.detail}; ${token}`;
    return { ...this.status, detail };
  }

  /** Time to roll: the generation is old, or one of its files went idle (e.g. a past time bucket). */
  private due(now: number): boolean {
    const g = this.gen;
    if (g === undefined) return false;
    if (now - g.openedAt >= this.config.roll_interval_ms) return true;
    const idle = this.config.idle_timeout_ms;
    if (idle > 0) for (const f of g.files.values()) if (now - f.lastWriteAt >= idle) return true;
    return false;
  }

  /**
   * Uploads what is buffered, then commits every file of the generation. Returns its last sequence and its
   * bytes as stored on HDFS (after compression).
   */
  private async roll(): Promise<{ committedThrough: number; bytes: number }> {
    const g = this.gen;
    if (g === undefined) throw new SluiceError('SLUICE_INTERNAL', 'roll() without an open generation');
    await g.uploadAll(this.client, PARALLEL_UPLOADS);
    const files = [...g.files.values()];
    const manifest: Manifest = {
      version: 1,
      gateway: this.deps.gatewayId,
      sink: this.name,
      first: g.first,
      last: g.last,
      staging: g.staging,
      files: files.map((f) => ({
        staged: f.staged,
        final: g.finalPath(f),
        bytes: f.stored,
        count: f.count,
        first: f.first,
        last: f.last,
      })),
    };
    await this.committer.commit(manifest, g.nonce);
    this.gen = undefined;
    this.delivered = g.last;
    this.status = { state: 'healthy', lastSuccessAt: Date.now() };
    this.deps.log.debug({ first: g.first, last: g.last, files: files.length }, 'files final');
    return { committedThrough: g.last, bytes: files.reduce((n, f) => n + f.stored, 0) };
  }

  private async recover(): Promise<void> {
    // A dropped generation's request still in flight could (re)create a staged file after recovery removed it.
    const abandoned = this.abandoned;
    this.abandoned = [];
    await Promise.all(abandoned);
    this.delivered = Math.max(this.delivered, await this.committer.recover());
    this.recovered = true;
  }

  /** Forgets the open generation; what it staged is removed by the next recovery. */
  private drop(): void {
    if (this.gen !== undefined) this.abandoned.push(this.gen.settled());
    this.gen = undefined;
    this.recovered = false;
  }

  private async authParams(): Promise<Record<string, string>> {
    const auth = this.config.auth;
    if (auth.type === 'pseudo' || this.tokens === undefined) {
      return auth.type === 'pseudo' ? { 'user.name': auth.user } : {};
    }
    const delegation = await this.tokens.current();
    return auth.type === 'delegation_token' && auth.user !== undefined
      ? { delegation, 'user.name': auth.user }
      : { delegation };
  }

  private fail(err: unknown): SluiceError {
    const e = toSluiceError(err, 'SLUICE_SINK_WRITE', `writing to HDFS ${this.config.path} failed`);
    // The namenode refused the token itself (expired, cancelled; a 401 without one): fetched or read anew.
    // Not on other auth faults (permissions): they would only churn tokens on the namenode.
    if (
      e instanceof WebHdfsError &&
      e.code === 'SLUICE_AUTH' &&
      (e.status === 401 || /token/i.test(e.message))
    ) {
      this.tokens?.invalidate();
    }
    this.status = failedHealth('unhealthy', e);
    return e;
  }
}
