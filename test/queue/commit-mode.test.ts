// commit_mode auto against a disk made slow for real: strace delays every fdatasync of the child process by
// 12 ms, so the event loop's wait for the disk in an inline commit is far over auto's 5 ms budget.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const child = fileURLToPath(new URL('../fixtures/commit-mode-child.mjs', import.meta.url));

interface ChildResult {
  modes: Array<'inline' | 'background'>;
  fallbacks: number;
  values: number[];
}

function runWithSlowFsync(
  mode: string,
  count: number,
  holdMs: number,
  pauseMs: number,
): Promise<ChildResult> {
  const args = ['--seccomp-bpf', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=fdatasync'];
  args.push('-e', 'inject=fdatasync:delay_exit=12000', process.execPath, child, tempDir(), mode);
  args.push(String(count), String(holdMs), String(pauseMs));
  return new Promise((resolve, reject) => {
    const p = spawn('strace', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', (e) =>
      reject(new Error(`strace is needed for this test (apt-get install strace): ${e.message}`)),
    );
    p.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as ChildResult)
        : reject(new Error(`child exited ${code}: ${err}`)),
    );
  });
}

const sequence = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('auto moves commits off the event loop when fsyncs are slow, and keeps every append', async () => {
  const r = await runWithSlowFsync('auto', 48, 60_000, 0);
  expect(r.modes.slice(0, 5)).toEqual(['inline', 'inline', 'inline', 'inline', 'inline']);
  expect(r.modes.at(-1)).toBe('background');
  expect(r.fallbacks).toBe(1);
  expect(r.values).toEqual(sequence(48));
}, 60_000);

test('auto measures inline commits again once the hold is over', async () => {
  // The hold is wall time, so it is long enough for the first half's 40 slow commits on a loaded machine
  // (300 ms expired before append 39 at a load average of 22), and the pause outlasts it.
  const r = await runWithSlowFsync('auto', 80, 3000, 3500);
  // before the pause: inline, then background; after it: inline again, then background again
  expect(r.modes[0]).toBe('inline');
  expect(r.modes[39]).toBe('background');
  expect(r.modes[40]).toBe('inline');
  expect(r.modes.at(-1)).toBe('background');
  expect(r.fallbacks).toBe(2);
  expect(r.values).toEqual(sequence(80));
}, 60_000);

test('an explicit commit_mode is kept however slow the disk is', async () => {
  const inline = await runWithSlowFsync('inline', 20, 300, 0);
  expect(new Set(inline.modes)).toEqual(new Set(['inline']));
  expect(inline.fallbacks).toBe(0);
  const background = await runWithSlowFsync('background', 20, 300, 0);
  expect(new Set(background.modes)).toEqual(new Set(['background']));
  expect(background.values).toEqual(sequence(20));
}, 60_000);
