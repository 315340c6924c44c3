// `file`: JSON-lines files in a local directory. Each file is written under a hidden temporary name and
// renamed when it rolls; its final name holds the sequence range inside, so delivery is exactly-once:
// a crash before the rename leaves only a temp file (removed and rewritten on start), a crash after it
// leaves a final file whose range tells the sink which readings to skip when they are fed again.
import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type {
  ComponentDefinition,
  ComponentDeps,
  ComponentHealth,
  Sink,
  SinkProgress,
} from '../components.js';
import { failedHealth } from '../components.js';
import { byteSize, componentName, durationMs, sinkCommon } from '../config/common.js';
import { SluiceError, errorMessage, toSluiceError } from '../errors.js';
import { toRecord, type QueuedReading } from '../reading.js';

export const schema = z
  .strictObject({
    type: z.literal('file'),
    path: z.string().min(1).describe('Directory the files are written to (created if missing).'),
    prefix: componentName.default('readings').describe('First part of every file name.'),
    max_file_bytes: byteSize.default(64 * 1024 * 1024).describe('Roll the file once it reaches this size.'),
    max_file_readings: z
      .number()
      .int()
      .min(1)
      .default(1_000_000)
      .describe('Roll the file after this many readings.'),
    roll_interval_ms: durationMs
      .min(1)
      .default(60_000)
      .describe('Roll a file this long after it was opened.'),
    ...sinkCommon,
  })
  .describe('JSON-lines files in a local directory, rolled by size, count and time.');

export type FileSinkConfig = z.output<typeof schema>;

const SEQ_WIDTH = 16;
const pad = (n: number): string => String(n).padStart(SEQ_WIDTH, '0');

/** `<prefix>-<gateway>-<first>-<last>.jsonl`, zero-padded so names sort in sequence order. */
export function finalName(prefix: string, gatewayId: string, first: number, last: number): string {
  return `${prefix}-${gatewayId}-${pad(first)}-${pad(last)}.jsonl`;
}

function tempName(prefix: string, gatewayId: string, first: number): string {
  return `.${prefix}-${gatewayId}-${pad(first)}.jsonl.tmp`;
}

interface OpenFile {
  readonly handle: FileHandle;
  readonly first: number;
  last: number;
  bytes: number;
  count: number;
  readonly openedAt: number;
}

export class FileSink implements Sink {
  readonly type = 'file';
  /** Highest sequence inside a final file: readings up to it are delivered, whatever the cursor says. */
  private delivered = 0;
  private file: OpenFile | undefined;
  private status: ComponentHealth = { state: 'starting' };

  constructor(
    readonly name: string,
    private readonly config: FileSinkConfig,
    private readonly deps: ComponentDeps,
  ) {}

  async connect(): Promise<void> {
    const { path, prefix } = this.config;
    const mine = `${prefix}-${this.deps.gatewayId}-`;
    const finalRe = new RegExp(`^${escape(mine)}(\\d{${SEQ_WIDTH}})-(\\d{${SEQ_WIDTH}})\\.jsonl$`);
    try {
      await makeDir(path);
      for (const name of await readdir(path)) {
        // A temp file's readings were never acknowledged: they will be fed again and written again.
        if (name.startsWith(`.${mine}`) && name.endsWith('.jsonl.tmp')) await unlink(join(path, name));
        const m = finalRe.exec(name);
        if (m) this.delivered = Math.max(this.delivered, Number(m[2]));
      }
    } catch (err) {
      // Thrown as is: its errno (ENOENT, ENOTDIR, EACCES) is what tells the health gate it is the config.
      this.status = failedHealth('unhealthy', err, 'SLUICE_SINK_WRITE');
      throw err;
    }
    this.status = { state: 'healthy' };
  }

  async write(batch: readonly QueuedReading[]): Promise<SinkProgress> {
    try {
      let committedThrough: number | undefined;
      for (const r of batch) {
        if (r.seq <= this.delivered) {
          committedThrough = r.seq; // already in a final file from before a crash
          continue;
        }
        const f = this.file ?? (this.file = await this.openFile(r.seq));
        const line = `${JSON.stringify(toRecord(this.deps.gatewayId, r))}\n`;
        await f.handle.write(line);
        f.last = r.seq;
        f.bytes += Buffer.byteLength(line);
        f.count++;
        if (f.bytes >= this.config.max_file_bytes || f.count >= this.config.max_file_readings) {
          committedThrough = await this.roll();
        }
      }
      if (this.file === undefined && batch.length > 0) committedThrough = batch[batch.length - 1]?.seq;
      return committedThrough === undefined ? {} : { committedThrough };
    } catch (err) {
      await this.discard();
      throw this.fail(err);
    }
  }

  async flush(reason: 'idle' | 'shutdown'): Promise<SinkProgress> {
    const f = this.file;
    if (!f) return {};
    if (reason === 'idle' && Date.now() - f.openedAt < this.config.roll_interval_ms) return {};
    try {
      return { committedThrough: await this.roll() };
    } catch (err) {
      await this.discard();
      throw this.fail(err);
    }
  }

  async close(): Promise<void> {
    // An open file here was not flushed (the runner flushes first); its readings are still queued.
    await this.discard();
    this.status = { state: 'stopped' };
  }

  health(): ComponentHealth {
    return this.status;
  }

  private async openFile(first: number): Promise<OpenFile> {
    const handle = await open(
      join(this.config.path, tempName(this.config.prefix, this.deps.gatewayId, first)),
      'w',
    );
    return { handle, first, last: first, bytes: 0, count: 0, openedAt: Date.now() };
  }

  /** Makes the open file final: data synced, renamed, directory synced. Returns the last sequence in it. */
  private async roll(): Promise<number> {
    const f = this.file;
    if (!f) throw new SluiceError('SLUICE_INTERNAL', 'roll() without an open file');
    const { path, prefix } = this.config;
    await f.handle.sync();
    await f.handle.close();
    this.file = undefined;
    await rename(
      join(path, tempName(prefix, this.deps.gatewayId, f.first)),
      join(path, finalName(prefix, this.deps.gatewayId, f.first, f.last)),
    );
    await syncDir(path);
    this.delivered = f.last;
    this.deps.metrics.sent(0, f.bytes); // bytes out; the runner counts the events when it acks
    this.status = { state: 'healthy', lastSuccessAt: Date.now() };
    return f.last;
  }

  private async discard(): Promise<void> {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    await f.handle
      .close()
      .catch((err: unknown) => this.deps.log.warn({ err: errorMessage(err) }, 'closing a temp file failed'));
    await unlink(join(this.config.path, tempName(this.config.prefix, this.deps.gatewayId, f.first))).catch(
      (err: unknown) =>
        this.deps.log.warn(
          { err: errorMessage(err) },
          'removing a temp file failed; it is removed on next start',
        ),
    );
  }

  private fail(err: unknown): SluiceError {
    const e = toSluiceError(err, 'SLUICE_SINK_WRITE', `writing to ${this.config.path} failed`, true);
    this.status = failedHealth('unhealthy', e);
    return e;
  }
}

/**
 * `mkdir -p` that always ends. Node 20's own `recursive: true` walk spins forever, at 100% of a core and
 * without calling back, where a parent exists but mkdir of its child says ENOENT (any path under /proc):
 * it reads ENOENT as "create the parent first", gets EEXIST for it, and tries the child again.
 */
export async function makeDir(path: string): Promise<void> {
  const dir = resolve(path);
  try {
    await mkdir(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return; // a file there is reported by the readdir that follows (ENOTDIR)
    if (code !== 'ENOENT' || dirname(dir) === dir) throw err;
  }
  await makeDir(dirname(dir)); // throws when a parent cannot be made
  // The parent exists now: a second ENOENT is final, whatever the filesystem means by it.
  await mkdir(dir).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  });
}

async function syncDir(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export const file: ComponentDefinition<typeof schema, Sink> = {
  type: 'file',
  description: 'JSON-lines files in a local directory, rolled by size, count and time, exactly once.',
  schema,
  create: (name, config, deps) => new FileSink(name, config, deps),
};
