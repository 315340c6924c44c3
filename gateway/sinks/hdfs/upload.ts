// One streamed CREATE or APPEND body to a datanode (chunked transfer encoding, as Hadoop's own
// WebHdfsFileSystem sends it): the writer hands it one encoded piece after another while it encodes the next,
// so one request carries many pieces without holding them in memory, and the datanode opens the file once.
// Nothing is acknowledged until the answer to the ended request: only then do its bytes count as stored.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { WebHdfsError, answerError, transportError } from './classify.js';

export class Upload {
  /** Bytes handed to the request so far; stored only once `end()` resolved. */
  bytes = 0;
  private failure: unknown;
  private draining: Promise<void> | undefined;
  private readonly answer: Promise<void>;
  private settled = false;
  private ended = false;

  constructor(
    private readonly req: ClientRequest,
    private readonly op: 'CREATE' | 'APPEND',
    private readonly path: string,
    private readonly host: string,
    private readonly expected: number,
    private readonly timeoutMs: number,
  ) {
    this.answer = new Promise<void>((resolve, reject) => {
      req.on('error', (err) => reject(this.wrap(err)));
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(this.wrap(err)));
        res.on('close', () => {
          if (!res.complete) return reject(this.wrap(new Error('connection closed before the answer')));
          const status = res.statusCode ?? 0;
          if (status === this.expected) return resolve();
          const challenge = res.headers['www-authenticate'];
          reject(
            answerError(
              op,
              path,
              status,
              res.headers['content-type'],
              Buffer.concat(chunks),
              Array.isArray(challenge) ? challenge.join(', ') : challenge,
            ),
          );
        });
      });
    });
    // Recorded as it happens (an early refusal, a cut connection), so the next write fails at once; the
    // request goes too, so nothing more of this file's data is sent after a failure.
    this.answer.then(
      () => {
        this.settled = true;
      },
      (err: unknown) => {
        this.settled = true;
        this.failure ??= err;
        req.destroy();
      },
    );
  }

  /**
   * Hands `data` to the request. Waits only for the previous piece to drain (the socket's buffer), so one
   * piece is in flight while the caller encodes the next: at most two pieces of a file in memory.
   */
  async write(data: Buffer): Promise<void> {
    if (this.draining !== undefined) await this.draining;
    this.check();
    if (this.ended) throw new WebHdfsError('SLUICE_INTERNAL', `${this.op} ${this.path}: write after end`);
    if (this.settled) throw this.wrap(new Error('the datanode answered before the upload ended'));
    this.bytes += data.length;
    if (!this.req.write(data)) this.draining = this.drained();
    else this.draining = undefined;
  }

  /** Ends the body and waits for the datanode's answer: after this, every byte written is stored. */
  async end(): Promise<void> {
    if (this.draining !== undefined) await this.draining;
    this.check();
    this.ended = true;
    this.req.end();
    await this.deadline(this.answer, 'no answer');
  }

  /** Stops the request (the generation is abandoned); the datanode closes the file with what it got. */
  abort(): void {
    this.failure ??= new Error('upload abandoned');
    this.req.destroy();
  }

  private check(): void {
    if (this.failure !== undefined) throw this.wrap(this.failure);
  }

  private drained(): Promise<void> {
    const drain = new Promise<void>((resolve) => this.req.once('drain', resolve));
    // A failure ends the wait too: it is thrown by the write that follows.
    return this.deadline(Promise.race([drain, this.answer]), 'no progress').catch((err: unknown) => {
      this.failure ??= err;
    });
  }

  /** `p`, or a failure (the request destroyed) when it takes longer than the request timeout. */
  private deadline(p: Promise<void>, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = this.wrap(new Error(`${what} within ${this.timeoutMs} ms`));
        this.failure ??= err;
        this.req.destroy();
        reject(err);
      }, this.timeoutMs);
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  private wrap(err: unknown): WebHdfsError {
    return err instanceof WebHdfsError ? err : transportError(this.op, this.path, this.host, err);
  }
}
