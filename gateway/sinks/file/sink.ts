// `file`: JSON-lines files in a local directory. Each file is written under a hidden temporary name and
// renamed when it rolls; its final name holds the sequence range inside, so delivery is exactly-once:
// a crash before the rename leaves only a temp file (removed and rewritten on start), a crash after it
// leaves a final file whose range tells the sink which readings to skip when they are fed again.
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ComponentDeps, ComponentHealth, Sink, SinkProgress } from '../../components.js';
import { failedHealth } from '../../components.js';
import { SluiceError, errorMessage, toSluiceError } from '../../errors.js';
import type { QueuedReading } from '../../reading.js';
import { finalName, padSeq, parseRangedName } from '../ranged-names.js';
import { makeDir, syncDir } from './client.js';
import { EXT, line } from './encode.js';
import type { FileSinkConfig } from './schema.js';

function tempName(prefix: string, gatewayId: string, first: number): string {
  return `.${prefix}-${gatewayId}-${padSeq(first)}.${EXT}.tmp`;
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
    const mine = `${prefix}-${this.deps.gatewayId}`;
    try {
      await makeDir(path);
      for (const name of await readdir(path)) {
        // A temp file's readings were never acknowledged: they will be fed again and written again.
        if (name.startsWith(`.${mine}-`) && name.endsWith(`.${EXT}.tmp`)) await unlink(join(path, name));
        const range = parseRangedName(name, mine, EXT);
        if (range) this.delivered = Math.max(this.delivered, range.last);
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
      let bytes: number | undefined;
      for (const r of batch) {
        if (r.seq <= this.delivered) {
          committedThrough = r.seq; // already in a final file from before a crash
          continue;
        }
        const f = this.file ?? (this.file = await this.openFile(r.seq));
        const text = line(this.deps.gatewayId, r);
        await f.handle.write(text);
        f.last = r.seq;
        f.bytes += Buffer.byteLength(text);
        f.count++;
        if (f.bytes >= this.config.max_file_bytes || f.count >= this.config.max_file_readings) {
          const rolled = await this.roll();
          committedThrough = rolled.committedThrough;
          bytes = (bytes ?? 0) + rolled.bytes;
        }
      }
      if (this.file === undefined && batch.length > 0) committedThrough = batch[batch.length - 1]?.seq;
      if (committedThrough === undefined) return {};
      return bytes === undefined ? { committedThrough } : { committedThrough, bytes };
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
      return await this.roll();
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

  /** Makes the open file final: data synced, renamed, directory synced. Returns its last sequence and size. */
  private async roll(): Promise<{ committedThrough: number; bytes: number }> {
    const f = this.file;
    if (!f) throw new SluiceError('SLUICE_INTERNAL', 'roll() without an open file');
    const { path, prefix } = this.config;
    await f.handle.sync();
    await f.handle.close();
    this.file = undefined;
    await rename(
      join(path, tempName(prefix, this.deps.gatewayId, f.first)),
      join(path, finalName(prefix, this.deps.gatewayId, f.first, f.last, EXT)),
    );
    await syncDir(path);
    this.delivered = f.last;
    this.status = { state: 'healthy', lastSuccessAt: Date.now() };
    return { committedThrough: f.last, bytes: f.bytes };
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
    const e = toSluiceError(err, 'SLUICE_SINK_WRITE', `writing to ${this.config.path} failed`);
    this.status = failedHealth('unhealthy', e);
    return e;
  }
}
