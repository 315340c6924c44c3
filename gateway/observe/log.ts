// Structured JSON logs (pino): one child logger per component, secrets redacted by key name, and a limiter
// for messages that could repeat per reading (bad payloads, garbage on a serial line).
import { writeSync } from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';

/** Keys whose values never reach a log line, at any depth: exact names, and names ending in `_<name>`. */
const SECRET_KEY =
  /^(?:.*_)?(?:password|passwd|passphrase|secret|token|private_key|key|sasl|authorization|cookie)$/i;
/** `scheme://user:password@host`: the password part of a URL. */
const URL_CREDENTIALS = /(\/\/[^/:@\s]+):[^@/\s]+@/g;
const CENSOR = '[redacted]';
const MAX_DEPTH = 8;

/**
 * Copies a log object with secret-named keys censored and URL passwords removed, however deep they sit
 * (pino's own `redact` takes fixed paths, and a config logged whole nests secrets 4-5 levels down).
 */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string')
    return value.includes('@') ? value.replace(URL_CREDENTIALS, `$1:${CENSOR}@`) : value;
  if (value === null || typeof value !== 'object' || value instanceof Error || Buffer.isBuffer(value))
    return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? CENSOR : redact(v, depth + 1);
  return out;
}

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
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redact(obj) as Record<string, unknown>,
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

/**
 * Ends a line that native code left open on stderr. LMDB reports a failed page write with
 * `fprintf(stderr, "Write error: ...")` and no newline (and "txn has failed/finished, can't commit" likewise),
 * so that the next line written to stderr, or to stdout where both go to one file (`2>&1`, `docker logs`
 * of a tty), would be glued to it. The JSON log is on stdout; stderr carries only such native messages and
 * fatal crash reports, one per line once this is called after each native failure. (Under systemd both
 * go to the journal as separate streams: without this, journald held the message until a later newline.)
 */
export function endNativeStderrLine(): void {
  try {
    writeSync(2, '\n');
  } catch {
    return; // stderr is closed: there is no line to end
  }
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

/**
 * Sends Node's process warnings to the JSON log instead of Node's default text on stderr (a deprecation,
 * KafkaJS 2.2.4's negative timer on Node >= 24: "TimeoutNegativeWarning", once per request queue check),
 * one line per warning name per 10 s with a count of the rest. For the life of the process (`sluice run`).
 */
export function routeProcessWarnings(log: Logger): void {
  process.removeAllListeners('warning');
  const limited = new RateLimitedLog(log);
  const onWarning = (w: Error & { code?: string }): void =>
    limited.warn(`node-warning:${w.name}:${w.code ?? ''}`, { warning: w.name, code: w.code }, w.message);
  process.on('warning', onWarning);
}
