// A generation: the files open at one time, one per directory, filled from one contiguous sequence range and
// made final together. Data is buffered per file and uploaded in large pieces (CREATE, then APPEND) into a
// staging directory unique to this attempt; nothing here is visible to readers of the data directories.
// A full piece goes on the wire while the readings after it are encoded: at most one request per file in
// flight, so a file's pieces land in order, and a piece counts as stored only once its answer came.
import { randomBytes } from 'node:crypto';
import { SluiceError } from '../../errors.js';
import type { QueuedReading } from '../../reading.js';
import type { Encoder, FileEncoder } from './formats.js';
import { finalName } from '../ranged-names.js';
import { stateNames } from './paths.js';
import type { CreateOptions, WebHdfsClient } from './client.js';

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
  created: boolean;
  /** Set once the file's end (Parquet's footer) is sent: nothing may be appended after it. */
  ended: boolean;
  /**
   * The piece on the wire, if any: settles with its failure (never rejects, so nothing goes unhandled while
   * the writer encodes on); the next piece of the file, its end, and the commit wait for it first.
   */
  sending: Promise<Error | undefined> | undefined;
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
        created: false,
        ended: false,
        sending: undefined,
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

  /** Resolves once no request of this generation is in flight (each one answered or failed). */
  async settled(): Promise<void> {
    for (const f of this.files.values()) if (f.sending !== undefined) await f.sending;
  }

  /**
   * Sends what a file holds in memory: CREATE the first time (never over an existing file), APPEND after,
   * once the file's previous piece was answered (its failure is thrown here). Without `last` the request is
   * left in flight; with `last` the file's end goes too, this waits for the answer, and the file takes no more
   * readings.
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
    await this.answered(f);
    if (data.length === 0) return;
    const put = this.put(client, f, data);
    f.sending = put.then(
      () => undefined,
      (err: unknown) =>
        err instanceof Error
          ? err
          : new SluiceError('SLUICE_SINK_WRITE', `upload of ${f.staged} failed: ${String(err)}`),
    );
    if (last) await this.answered(f);
  }

  /** Waits for the file's piece in flight; throws its failure. */
  private async answered(f: StagedFile): Promise<void> {
    const failure = await f.sending;
    f.sending = undefined;
    if (failure !== undefined) {
      f.sending = Promise.resolve(failure); // every later wait on this file fails the same way
      throw failure;
    }
  }

  private async put(client: WebHdfsClient, f: StagedFile, data: Buffer): Promise<void> {
    if (f.created) {
      await client.append(f.staged, data);
    } else {
      await client.create(f.staged, data, { ...this.s.create, overwrite: false });
      f.created = true;
    }
    f.stored += data.length;
  }

  /** Sends the rest of every file with its end: after this the generation can only be committed. */
  async uploadAll(client: WebHdfsClient, concurrency: number): Promise<void> {
    await forEachLimit([...this.files.values()], concurrency, (f) => this.upload(client, f, true));
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
