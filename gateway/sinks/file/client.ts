// The file sink's transport is the local filesystem: the two calls of it that need care, a directory made
// without Node's recursive mkdir (which can spin forever) and a directory fsync that makes a rename durable.
import { mkdir, open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p` that always ends. Node 20's own `recursive: true` walk spins forever, at 100% of a core and
 * without calling back, where a parent exists but mkdir of its child says ENOENT (any path under /proc):
 * it reads ENOENT as "create the parent first", gets EEXIST for it, and tries the child again.
 */
export async function makeDir(path: string): Promise<void> {
  const dir = resolve(path);
  try {
    await mkdir(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return; // a file there is reported by the readdir that follows (ENOTDIR)
    if (code !== 'ENOENT' || dirname(dir) === dir) throw err;
  }
  await makeDir(dirname(dir)); // throws when a parent cannot be made
  // The parent exists now: a second ENOENT is final, whatever the filesystem means by it.
  await mkdir(dir).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  });
}

export async function syncDir(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
