// Runs the Kafka peer's command-line tools (kcat, and whatever else a test needs) and collects their output.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** What to do when the peer's tools are missing: the setup `npm test` runs first installs and builds them. */
export const KAFKA_PEER_INSTALL =
  'run node test/setup/index.mjs (npm test runs it first; it installs kcat and librdkafka-dev and builds the mock cluster)';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Streamed to stdin with backpressure, so benchmark inputs need not fit in one buffer. */
  input?: Iterable<string | Buffer> | AsyncIterable<string | Buffer>;
  timeoutMs?: number;
}

/** Resolves with the exit status whatever it is; rejects naming the tool and KAFKA_PEER_INSTALL when it is absent. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    let inputError: Error | undefined;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            stderr += `\n[killed after ${options.timeoutMs} ms]`;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(err.code === 'ENOENT' ? new Error(`${command} not found: ${KAFKA_PEER_INSTALL}`) : err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      if (inputError) reject(inputError);
      else resolve({ code, signal, stdout, stderr });
    });
    if (options.input === undefined) {
      child.stdin.end();
    } else {
      pipeline(Readable.from(options.input), child.stdin).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_PREMATURE_CLOSE') {
          // The child exited early (bad flags); its exit status and stderr say why.
          stderr += `\n[stdin: ${err.message}]`;
          return;
        }
        // The input itself failed: the child saw a truncated stream and must not pass for a success.
        inputError = err;
        child.kill('SIGTERM');
      });
    }
  });
}
