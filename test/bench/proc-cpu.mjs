// CPU time of another process, for benchmarks that compare a server or tool with its peer (Linux /proc).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second: the unit of /proc CPU times. */
export const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU seconds (all threads) the process has used so far. */
export function procCpuSeconds(pid) {
  // /proc/<pid>/stat: fields 14 and 15 (utime, stime) after the `(comm)` field.
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}
