// A generation: the files open at one time, one per directory, filled from one contiguous sequence range and
// made final together. Each file's data is encoded in pieces of upload_buffer_bytes and streamed into one
// open request (CREATE, then APPEND after the request was ended at a pause) into a staging directory unique
// to this attempt, one piece on the wire while the next is encoded; nothing here is visible to readers of
// the data directories.
import { randomBytes } from 'node:crypto';
import { SluiceError } from '../../errors.js';
import type { QueuedReading } from '../../reading.js';
import type { Encoder, FileEncoder } from './formats.js';
import { finalName } from '../ranged-names.js';
import { stateNames } from './paths.js';
import type { CreateOptions, WebHdfsClient } from './client.js';
import type { Upload } from './upload.js';

/**
 * Requests left open at once: each holds a socket, and below the client's 8 per agent so that a new upload
 * and the namenode's requests always find one (a request queued behind open streams would never start).
 */
const MAX_OPEN_UPLOADS = 4;

export interface StagedFile {
  readonly index: number;
  /** Final directory. */
  readonly dir: string;
  /** Full staged path. */
  readonly staged: string;
  first: number;
  last: number;
  count: number;
  /** Encoded bytes before compression (as text), header included: what `max_file_bytes` counts. */
  rawBytes: number;
  /** Bytes acknowledged by CREATE/APPEND answers: what the staged file must hold. */
  stored: number;
  /** The request open for this file's pieces; one at a time, so a file's bytes land in order. */
  upload: Upload | undefined;
  /** When a piece last went into `upload`: the least recent is ended first when too many are open. */
  sentAt: number;
  created: boolean;
  /** Set once the file's end (Parquet's footer) is sent: nothing may be appended after it. */
  ended: boolean;
  /** Holds what is not sent yet; one per file, its state is the file's (Parquet's row-group index). */
  readonly encoder: FileEncoder;
  pendingBytes: number;
  lastWriteAt: number;
}

export interface GenerationSettings {
  readonly encoder: Encoder;
  readonly prefix: string;
  readonly gatewayId: string;
  /** `<state_dir>/<gateway>/<sink>`. */
  readonly stateRoot: string;
  readonly uploadBufferBytes: number;
  readonly create: Omit<CreateOptions, 'overwrite'>;
}

export class Generation {
  readonly nonce = randomBytes(4).toString('hex');
  readonly staging: string;
  readonly files = new Map<string, StagedFile>();
  last: number;
  private readonly open = new Set<StagedFile>();
  private sends = 0;

  constructor(
    readonly first: number,
    readonly openedAt: number,
    private readonly s: GenerationSettings,
  ) {
    this.last = first;
    this.staging = `${s.stateRoot}/${stateNames.staging(first, this.nonce)}`;
  }

  /** Adds a reading to the file of `dir` (opened on first use); uploads when its buffer is full. */
  async add(client: WebHdfsClient, dir: string, r: QueuedReading, now: number): Promise<StagedFile> {
    let f = this.files.get(dir);
    if (f === undefined) {
      const encoder = this.s.encoder.open();
      f = {
        index: this.files.size,
        dir,
        staged: `${this.staging}/${stateNames.staged(this.files.size, this.s.encoder.ext)}`,
        first: r.seq,
        last: r.seq,
        count: 0,
        rawBytes: encoder.startBytes,
        stored: 0,
        upload: undefined,
        sentAt: 0,
        created: false,
        ended: false,
        encoder,
        pendingBytes: encoder.startBytes,
        lastWriteAt: now,
      };
      this.files.set(dir, f);
    }
    if (f.ended) {
      throw new SluiceError('SLUICE_INTERNAL', `reading ${r.seq} added to ${f.staged} after its end`);
    }
    const bytes = f.encoder.add(r);
    f.pendingBytes += bytes;
    f.rawBytes += bytes;
    f.last = r.seq;
    f.count++;
    f.lastWriteAt = now;
    this.last = r.seq;
    if (f.pendingBytes >= this.s.uploadBufferBytes) await this.upload(client, f);
    return f;
  }

  /**
   * Sends what a file holds in memory into its open request (opening one: CREATE the first time, never over
   * an existing file, APPEND after). With `last`, the file's end goes too, the request is ended and answered,
   * and the file takes no more readings.
   */
  async upload(client: WebHdfsClient, f: StagedFile, last = false): Promise<void> {
    if (f.ended || (f.pendingBytes === 0 && !last)) return;
    let data = await f.encoder.take();
    if (last) {
      f.ended = true;
      const end = await f.encoder.end();
      if (end.length > 0) data = data.length === 0 ? end : Buffer.concat([data, end]);
    }
    f.pendingBytes = 0;
    if (data.length > 0) {
      if (f.upload === undefined) {
        while (this.open.size >= MAX_OPEN_UPLOADS) await this.endUpload(this.leastRecent());
        f.upload = f.created
          ? await client.upload(f.staged)
          : await client.upload(f.staged, { ...this.s.create, overwrite: false });
        this.open.add(f);
      }
      f.sentAt = ++this.sends;
      await f.upload.write(data);
    }
    if (last) await this.endUpload(f);
  }

  /**
   * Sends the rest of every file with its end: after this the generation can only be committed. The files
   * with a request open go first, one per worker, so a worker opens a request only after ending its own:
   * never more than MAX_OPEN_UPLOADS open, and none ended by another worker while it is written to.
   */
  async uploadAll(client: WebHdfsClient): Promise<void> {
    const files = [...this.files.values()].sort(
      (a, b) => Number(b.upload !== undefined) - Number(a.upload !== undefined),
    );
    await forEachLimit(files, MAX_OPEN_UPLOADS, (f) => this.upload(client, f, true));
  }

  /**
   * Ends every open request and waits for the answers (the queue is drained for now): no request stays open
   * through a pause, and what was sent is stored. Pieces still being encoded stay in memory.
   */
  async pause(): Promise<void> {
    await forEachLimit([...this.open], MAX_OPEN_UPLOADS, (f) => this.endUpload(f));
  }

  /** Stops every open request: the generation is abandoned, its staged files removed by the next recovery. */
  abort(): void {
    for (const f of this.open) f.upload?.abort();
    this.open.clear();
  }

  private async endUpload(f: StagedFile): Promise<void> {
    const u = f.upload;
    if (u === undefined) return;
    this.open.delete(f);
    f.upload = undefined;
    await u.end();
    f.created = true;
    f.stored += u.bytes;
  }

  private leastRecent(): StagedFile {
    let oldest: StagedFile | undefined;
    for (const f of this.open) if (oldest === undefined || f.sentAt < oldest.sentAt) oldest = f;
    if (oldest === undefined) throw new SluiceError('SLUICE_INTERNAL', 'no open upload to end');
    return oldest;
  }

  /** The file name each staged file gets when the generation is committed. */
  finalPath(f: StagedFile): string {
    return `${f.dir}/${finalName(this.s.prefix, this.s.gatewayId, f.first, f.last, this.s.encoder.ext)}`;
  }

  /** True once a file is over a size or count limit. */
  static full(f: StagedFile, maxBytes: number, maxReadings: number): boolean {
    return f.rawBytes >= maxBytes || f.count >= maxReadings;
  }
}

/** Runs `fn` over `items`, at most `limit` at a time; after a failure starts no more, rejects with it. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length && errors.length === 0) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        errors.push(err);
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
