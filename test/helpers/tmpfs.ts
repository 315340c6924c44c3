// Small tmpfs mounts for tests of a full disk (root only), unmounted after the test file; and a filler that
// takes every free byte of one, for "another program filled the disk".
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const mounted: string[] = [];
afterAll(() => {
  for (const dir of mounted.splice(0)) {
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Why tmpfs cannot be mounted here (not root, no mount(8), no CAP_SYS_ADMIN), or undefined when it can. */
export function tmpfsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const probe = mkdtempSync(join(tmpdir(), 'sluice-tmpfs-probe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
  if (r.status === 0) spawnSync('umount', [probe]);
  rmSync(probe, { recursive: true, force: true });
  return r.status === 0
    ? undefined
    : `mount -t tmpfs is not permitted here: ${(r.stderr || String(r.error)).trim()}`;
}

/** Mounts a fresh tmpfs of `size` (mount(8) syntax, e.g. `8m`) and returns its directory. */
export function mountTmpfs(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs on ${dir} failed: ${r.stderr}`);
  mounted.push(dir);
  return dir;
}

/** Fills the file system of `dir` to the last byte with one file; returns a function that removes it. */
export function fillDisk(dir: string): () => void {
  const file = join(dir, `filler-${process.pid}-${Date.now()}`);
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  try {
    for (let size = chunk.length; size >= 1; size = Math.floor(size / 2)) {
      // Ever smaller writes once a chunk no longer fits, down to the last free byte.
      for (;;) {
        try {
          if (writeSync(fd, chunk, 0, size) < size) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return () => unlinkSync(file);
}
