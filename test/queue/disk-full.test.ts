// A full disk never crashes the gateway: the queue keeps back the space its own commits need, refuses (and
// counts) readings with a disk-full error, and drains once the sinks can write again, without a restart.
// On small tmpfs mounts (root only; skipped with the reason elsewhere). The log stays one JSON object per
// line even where LMDB writes its own messages to the same file.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { cliPath } from '../helpers/cli.js';
import { fillDisk, mountTmpfs, tmpfsUnavailable } from '../helpers/tmpfs.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';

const child = fileURLToPath(new URL('../fixtures/disk-full-child.mjs', import.meta.url));
const unavailable = tmpfsUnavailable();
if (unavailable) console.warn(`skipping the disk-full tests: ${unavailable}`);

interface LogLine {
  readonly msg: string;
  readonly [key: string]: unknown;
}

/**
 * LMDB's own messages on stderr (mdb.c), which are not JSON but must each stay on a line of their own; and
 * the empty line left when LMDB ended its "Write error" with the newline of a following message itself.
 */
const NATIVE = /^(Write error: |mdb_page_spill |txn has failed|do_write error|$)/;

/** Parses a log file: every line is a JSON object, or one of LMDB's messages with no JSON glued to it. */
function parseLog(file: string): { json: LogLine[]; native: string[]; bad: string[] } {
  const json: LogLine[] = [];
  const native: string[] = [];
  const bad: string[] = [];
  const text = readFileSync(file, 'utf8');
  for (const line of text.split('\n').slice(0, text.endsWith('\n') ? -1 : undefined)) {
    if (line.startsWith('{')) {
      try {
        json.push(JSON.parse(line) as LogLine);
        continue;
      } catch {
        bad.push(line);
        continue;
      }
    }
    if (NATIVE.test(line) && !line.includes('{"level"')) native.push(line);
    else bad.push(line);
  }
  return { json, native, bad };
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) resolve({ code: p.exitCode, signal: p.signalCode });
    else p.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Runs the queue child on a fresh 8 MiB tmpfs, driving it through full disk, fuller disk, free disk. */
async function queueOnFullDisk(mode: 'inline' | 'background', reserve: string) {
  const disk = mountTmpfs('8m');
  const logFile = join(mountTmpfs('4m'), 'child.log');
  const out = openSync(logFile, 'w');
  const p = spawn(process.execPath, [child, join(disk, 'queue'), mode, reserve], {
    stdio: ['pipe', out, out],
  });
  closeSync(out);
  const done = exited(p);
  const find = (msg: string) => () => parseLog(logFile).json.find((l) => l.msg === msg);
  const step = async (msg: string) =>
    Promise.race([
      until(find(msg), { what: msg, timeoutMs: 30_000, intervalMs: 50 }),
      done.then((e) => {
        throw new Error(
          `child exited (${e.code ?? e.signal}) before "${msg}":\n${readFileSync(logFile, 'utf8').slice(-3000)}`,
        );
      }),
    ]);
  await step('full');
  const unfill = fillDisk(disk); // another program takes the rest of the disk
  p.stdin!.write('go\n');
  const onFull = await until(
    () => parseLog(logFile).json.find((l) => l.msg.includes('on a full disk') && l.msg.startsWith('ack')),
    { what: 'the ack on a full disk', timeoutMs: 30_000, intervalMs: 50 },
  );
  await step(onFull.msg === 'acked on a full disk' ? onFull.msg : 'ack failed on a full disk');
  await until(
    () => parseLog(logFile).json.find((l) => l.msg.startsWith('append') && l.msg.endsWith('on a full disk')),
    { what: 'the append on a full disk', timeoutMs: 30_000, intervalMs: 50 },
  );
  unfill();
  p.stdin!.write('go\n');
  const exit = await done;
  return { exit, log: parseLog(logFile), onFull, text: readFileSync(logFile, 'utf8') };
}

describe.skipIf(unavailable !== undefined)('a queue on a full disk', () => {
  for (const mode of ['inline', 'background'] as const) {
    test(`${mode}: refuses readings with a disk-full error, still acks when another program fills the disk, and drains`, async () => {
      const { exit, log, onFull, text } = await queueOnFullDisk(mode, 'default');
      expect(exit, text.slice(-3000)).toEqual({ code: 0, signal: null });
      const refused = log.json.find((l) => l.msg === 'append refused')!;
      expect(refused.code).toBe('SLUICE_QUEUE_FULL');
      expect(refused.err).toMatch(/disk holding the queue .* is full/);
      expect(refused.hint).toMatch(/free space/);
      expect(refused.rejected).toBe(50); // counted in the queue's rejected metric
      // The reserve kept in the queue's file lets the ack commit although the file system is full.
      expect(onFull.msg, JSON.stringify(onFull)).toBe('acked on a full disk');
      expect(log.json.filter((l) => l.msg === 'ack failed after space returned')).toEqual([]);
      const end = log.json.find((l) => l.msg === 'drained and appending again')!;
      expect(end).toMatchObject({ depth: 50, disk_full: false });
      expect(log.json.some((l) => String(l.err).includes('Input/output error'))).toBe(false);
      expect(log.bad).toEqual([]);
    }, 60_000);

    test(`${mode}, no reserve: a commit at ENOSPC fails as disk full (not EIO), never crashes, and LMDB's message keeps its own line`, async () => {
      const { exit, log, onFull, text } = await queueOnFullDisk(mode, '0');
      expect(exit, text.slice(-3000)).toEqual({ code: 0, signal: null });
      expect(onFull.msg, JSON.stringify(onFull)).toBe('ack failed on a full disk');
      expect(onFull.code).toBe('SLUICE_QUEUE_FULL');
      expect(onFull.err).toMatch(/disk holding the queue .* is full/);
      // Without the reserve LMDB may stay unable to commit after a failed page spill until it is reopened:
      // what the reserve is for. Either way the process never crashes.
      expect(
        log.json.find(
          (l) => l.msg === 'drained and appending again' || l.msg === 'still failing after space returned',
        ),
      ).toBeDefined();
      expect(log.native.some((l) => l.startsWith('Write error: No space left on device'))).toBe(true);
      expect(log.bad).toEqual([]);
    }, 60_000);
  }
});

describe.skipIf(unavailable !== undefined)('the gateway on a full disk', () => {
  test('refuses and counts readings, reports the full disk in health, and drains once its sink can write again', async () => {
    const data = mountTmpfs('8m');
    const outDisk = mountTmpfs('64m');
    const unblock = fillDisk(outDisk); // the sink cannot write: readings pile up in the queue
    const logFile = join(mountTmpfs('16m'), 'gateway.log');
    const cfg = join(tempDir('sluice-disk-full-'), 'sluice.yaml');
    const count = 150_000; // accepted readings: more than the 8 MiB disk holds at once
    writeFileSync(
      cfg,
      `gateway: { id: gw-disk-full, data_dir: ${data} }
queue: { max_bytes: 7MiB, on_full: reject_new }
observe:
  http: { port: 0 }
  health: { disk_min_free_bytes: 64KiB, disk_min_free_percent: 1 }
sources:
  sim: { type: simulator, devices: 500, interval_ms: 10, count: ${count} }
sinks:
  out: { type: file, path: ${join(outDisk, 'out')}, start_from: oldest, roll_interval_ms: 1000, retry: { initial_ms: 20, max_ms: 200 } }
`,
    );
    mkdirSync(join(outDisk, 'out'), { recursive: true });
    const fd = openSync(logFile, 'w');
    const p = spawn(process.execPath, [cliPath, 'run', '-c', cfg], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const done = exited(p);
    try {
      const url = await until(
        () => {
          const l = parseLog(logFile).json.find((j) => j.msg === 'http listening');
          return l ? String(l.url) : undefined;
        },
        { what: 'http listening', timeoutMs: 30_000, intervalMs: 50 },
      );
      const get = async (path: string) => {
        const r = await fetch(new URL(path, url));
        return { status: r.status, body: await r.text() };
      };
      interface Status {
        queue: { depth: number; rejected: number; diskFull: boolean; cursors: { lag: number }[] };
      }
      const status = async () => JSON.parse((await get('/api/status')).body) as Status;
      await until(async () => ((await status()).queue.diskFull ? true : undefined), {
        what: 'refusals for a full disk',
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      const health = await get('/healthz');
      expect(health.status).toBe(503);
      expect(health.body).toMatch(/disk nearly full/);
      const metrics = (await get('/metrics')).body;
      expect(Number(/^sluice_queue_rejected_events_total\S* (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
      const refusal = parseLog(logFile).json.find((l) => l.msg === 'simulated readings were not queued')!;
      expect(refusal.err).toMatch(/^SLUICE_QUEUE_FULL: the disk holding the queue .* is full/);

      unblock();
      // The simulator counts only what the queue took: it goes on until `count` were accepted.
      const drained = await until(
        async () => {
          const s = await status();
          return s.queue.cursors[0]!.lag === 0 && linesIn(join(outDisk, 'out')) >= count ? s : undefined;
        },
        { what: 'the sink to drain every accepted reading', timeoutMs: 90_000, intervalMs: 50 },
      );
      expect(drained.queue.rejected).toBeGreaterThan(0);
      expect(linesIn(join(outDisk, 'out'))).toBe(count); // every accepted reading delivered, once
      p.kill('SIGTERM');
      expect(await done).toEqual({ code: 0, signal: null });
      const log = parseLog(logFile);
      expect(log.bad).toEqual([]);
      expect(log.native).toEqual([]);
      expect(log.json.some((l) => String(l.err).includes('SLUICE_QUEUE_IO'))).toBe(false);
    } finally {
      p.kill('SIGKILL');
      await done;
    }
  }, 150_000);
});

function linesIn(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.jsonl')) continue;
    const text = readFileSync(join(dir, f), 'utf8');
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  }
  return n;
}
