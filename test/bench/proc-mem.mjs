// Memory and disk I/O of another process, for benchmarks (Linux /proc), beside proc-cpu.mjs.
import { readFileSync } from 'node:fs';

/**
 * Resident memory of a process from /proc/<pid>/status, in bytes: rss (VmRSS) = anon (RssAnon: heap, stacks,
 * malloc; what the process itself costs) + file (RssFile: the node binary, native addons and the pages of
 * the memory-mapped LMDB file it touched, clean and reclaimable) + shmem (RssShmem).
 */
export function procMemory(pid = 'self') {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN) * 1024;
  return {
    rss: kb('VmRSS'),
    anon: kb('RssAnon'),
    file: kb('RssFile'),
    shmem: kb('RssShmem'),
    hwm: kb('VmHWM'),
  };
}

/**
 * /proc/<pid>/io, all threads of the process: write_bytes is what it sent to the block layer (0 on tmpfs and
 * other filesystems without a backing device), wchar what it passed to write()-like calls.
 */
export function procIo(pid = 'self') {
  const out = {};
  for (const line of readFileSync(`/proc/${pid}/io`, 'utf8').split('\n')) {
    const [k, v] = line.split(':');
    if (v !== undefined) out[k.trim()] = Number(v.trim());
  }
  return out;
}

/** MiB with one decimal, for printing. */
export const mib = (bytes) => (bytes / 1024 / 1024).toFixed(1);
