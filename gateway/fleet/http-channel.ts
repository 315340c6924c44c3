// The HTTP pull channel, for sites where only HTTPS leaves: polls one URL with If-None-Match and hands a new
// body (the same signed bundle as on MQTT) to the agent. A 304 costs a few bytes; the first poll, and every
// poll after a restart, replays the current bundle, which the agent ignores when it is not newer.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { FleetHttpConfig } from '../config/bootstrap-schema.js';
import { SluiceError, errorMessage } from '../errors.js';
import type { FleetAgent } from './agent.js';

export class HttpChannel {
  private etag: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private polling: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private readonly token: string | undefined;

  constructor(
    private readonly agent: FleetAgent,
    private readonly config: FleetHttpConfig,
    private readonly log: Logger,
  ) {
    if (config.token_file !== undefined) {
      try {
        this.token = readFileSync(config.token_file, 'utf8').split('\n')[0] ?? '';
      } catch (err) {
        throw new SluiceError('SLUICE_CONFIG_READ', `cannot read token_file ${config.token_file}`, {
          cause: err,
        });
      }
    }
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
    try {
      const res = await fetch(this.config.url, {
        headers,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.config.timeout_ms)]),
      });
      if (res.status === 304 || res.status === 404) return; // nothing new / nothing published yet
      if (!res.ok) {
        this.log.warn({ url: this.config.url, status: res.status }, 'fleet bundle poll failed');
        return;
      }
      text = await res.text();
      // The first fetch after a start is history like a retained message: stale is not worth a report.
      replay = this.etag === undefined;
      this.etag = res.headers.get('etag') ?? undefined;
    } catch (err) {
      if (this.stopped) return;
      this.log.warn({ url: this.config.url, err: errorMessage(err) }, 'fleet bundle poll failed');
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
