// The HTTP pull channel, for sites where only HTTPS leaves: polls one URL with If-None-Match and hands a new
// body (the same signed bundle as on MQTT) to the agent. A 304 costs a few bytes; the first poll, and every
// poll after a restart, replays the current bundle, which the agent ignores when it is not newer.
import type { Logger } from 'pino';
import type { FleetHttpConfig } from '../config/bootstrap-schema.js';
import { readSecretFile } from '../config/credentials.js';
import { errorMessage } from '../errors.js';
import type { ChannelStatus } from '../status.js';
import type { FleetAgent } from './agent.js';
import { ChannelState } from './channel-state.js';

/** A body cut at the size limit: never decoded. */
class TooLarge extends Error {
  constructor(readonly bytes: number) {
    super(`bundle of ${bytes} bytes or more`);
  }
}

export class HttpChannel {
  private etag: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private polling: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private readonly token: string | undefined;
  private readonly state: ChannelState;

  constructor(
    private readonly agent: FleetAgent,
    private readonly config: FleetHttpConfig,
    private readonly log: Logger,
  ) {
    this.state = new ChannelState('http', config.url, log);
    // The same first-line rule as every other secret file (a CRLF file works, an empty token is an error).
    if (config.token_file !== undefined) this.token = readSecretFile(config.token_file, 'token_file');
  }

  status(): ChannelStatus {
    return this.state.status();
  }

  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      this.polling = this.poll().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.config.poll_interval_ms);
      });
    };
    loop();
  }

  /** One poll; resolves when the bundle (if new) has been handled. Errors are logged and retried next poll. */
  async poll(): Promise<void> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.etag !== undefined) headers['if-none-match'] = this.etag;
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    let text: string;
    let replay: boolean;
    const max = this.agent.maxBundleBytes;
    try {
      const res = await fetch(this.config.url, {
        headers,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.config.timeout_ms)]),
      });
      if (res.status === 304 || res.status === 404) {
        this.state.succeeded();
        await res.body?.cancel();
        return; // nothing new / nothing published yet
      }
      if (!res.ok) {
        await res.body?.cancel();
        this.state.failed(this.config.poll_interval_ms, `HTTP ${res.status}`);
        return;
      }
      // The first fetch after a start is history like a retained message: stale is not worth a report.
      replay = this.etag === undefined;
      this.state.succeeded();
      try {
        text = await readCapped(res, max);
      } catch (err) {
        if (!(err instanceof TooLarge)) throw err;
        // Reported once per published bundle: the ETag is kept, so the next poll gets a 304.
        this.etag = res.headers.get('etag') ?? undefined;
        await this.agent.rejectOversized(err.bytes, { origin: 'http', replay });
        return;
      }
      this.etag = res.headers.get('etag') ?? undefined;
    } catch (err) {
      if (this.stopped) return;
      this.state.failed(this.config.poll_interval_ms, errorMessage(err));
      return;
    }
    try {
      await this.agent.submit(text, { origin: 'http', replay });
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'handling a polled bundle failed');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.polling;
  }
}

/**
 * The body as text, read no further than `max` bytes: a Content-Length above it is refused before the body
 * is read, a longer chunked body when the limit is crossed (the connection is then dropped).
 */
async function readCapped(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel();
    throw new TooLarge(declared);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > max) {
      await reader.cancel();
      throw new TooLarge(bytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
