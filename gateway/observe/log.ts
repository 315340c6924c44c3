// Structured JSON logs (pino): one child logger per component, secrets redacted by key name, and a limiter
// for messages that could repeat per reading (bad payloads, garbage on a serial line).
import { pino, type Logger, type LevelWithSilent } from 'pino';

/** Keys whose values never reach a log line, wherever they appear in the first levels of an object. */
const SECRET_KEYS = [
  'password',
  'passphrase',
  'secret',
  'token',
  'private_key',
  'key',
  'sasl',
  'authorization',
];
const REDACT = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LogOptions {
  readonly level: LevelWithSilent;
  readonly gatewayId: string;
  /** Where to write; stdout by default. */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(options: LogOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { gateway: options.gatewayId },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

/** A logger that writes nothing (tests, CLI tools that report by exit code). */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Lets one line per key through per interval and counts the rest, reporting the count with the next line
 * that gets through, so a flood of bad input cannot flood the disk.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    private readonly maxKeys = 1_000,
  ) {}

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    if (!seen && this.last.size >= this.maxKeys) this.last.clear();
    this.log.warn({ ...fields, suppressed: seen?.suppressed ?? 0 }, msg);
    this.last.set(key, { at: now, suppressed: 0 });
  }
}
