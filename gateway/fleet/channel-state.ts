// The state of one fleet channel (connected or still trying, failed attempts, last error, next retry), for
// /api/status, `sluice status` and readiness warnings, and the channel's log: the first failure warns,
// later ones at most once a minute with a count, and getting through again is logged once.
import type { Logger } from 'pino';
import type { ChannelStatus } from '../status.js';

const WARN_EVERY_MS = 60_000;

export class ChannelState {
  private state: ChannelStatus['state'] = 'connecting';
  private attempts = 0;
  private lastError: ChannelStatus['lastError'] = null;
  private nextRetryAt: number | null = null;
  private connectedAt: number | null = null;
  private failingSince: number | null = null;
  private lastWarnAt = 0;
  private suppressed = 0;

  constructor(
    private readonly channel: ChannelStatus['channel'],
    private readonly url: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The channel got through (CONNACK, a poll answered). */
  succeeded(): void {
    const now = this.now();
    if (this.state !== 'connected') this.connectedAt = now;
    if (this.attempts > 0)
      this.log.info(
        {
          channel: this.channel,
          url: this.url,
          failed_attempts: this.attempts,
          down_ms: now - (this.failingSince ?? now),
        },
        'fleet channel working again',
      );
    this.state = 'connected';
    this.attempts = 0;
    this.nextRetryAt = null;
    this.failingSince = null;
    this.suppressed = 0;
  }

  /** An error the transport reported; counted as an attempt by failed(). */
  error(message: string): void {
    this.lastError = { message, at: this.now() };
  }

  /** An attempt failed (or the connection was lost); the next one is in `retryInMs`. */
  failed(retryInMs: number, message?: string): void {
    const now = this.now();
    if (message !== undefined) this.error(message);
    this.state = 'connecting';
    this.connectedAt = null;
    this.attempts++;
    this.failingSince ??= now;
    this.nextRetryAt = now + retryInMs;
    const fields = {
      channel: this.channel,
      url: this.url,
      attempts: this.attempts,
      err: this.lastError?.message,
      retry_in_ms: retryInMs,
    };
    if (this.attempts === 1 || now - this.lastWarnAt >= WARN_EVERY_MS) {
      this.log.warn({ ...fields, suppressed: this.suppressed }, 'fleet channel unreachable; retrying');
      this.lastWarnAt = now;
      this.suppressed = 0;
    } else {
      this.suppressed++;
      this.log.debug(fields, 'fleet channel unreachable; retrying');
    }
  }

  get failures(): number {
    return this.attempts;
  }

  status(): ChannelStatus {
    return {
      channel: this.channel,
      url: this.url,
      state: this.state,
      attempts: this.attempts,
      lastError: this.lastError,
      nextRetryAt: this.nextRetryAt,
      connectedAt: this.connectedAt,
    };
  }
}
