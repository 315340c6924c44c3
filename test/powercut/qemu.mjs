// One boot of the power-cut guest: qemu with TCG (no KVM needed), the data disk on virtio with cache=none
// (the guest's writes bypass the host's page cache, so killing qemu loses exactly what the guest kernel had
// not written yet), and the serial console on qemu's stdout, parsed into the guest's @ lines.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** `@ack <device>:<n>;`: the terminator proves the line arrived whole (a cut can truncate the last one). */
const ACK = /^@ack (r\d+p\d+:\d+);$/;

/**
 * Boots the guest. `append`: extra kernel arguments (pc.mode=...). Events: `onLine(line, seconds since
 * spawn)` for every console line but acks, `onAck(id, seconds)`. Returns { kill, exited } where exited
 * resolves with { code, signal, acks: Set, garbled, log } once qemu is gone.
 */
export function boot({ kernel, initrd, disk, append, smp, memoryMib, logFile, onLine, onAck }) {
  const args = [
    '-accel',
    'tcg,thread=multi',
    '-cpu',
    'max',
    '-smp',
    String(smp),
    '-m',
    String(memoryMib),
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    'stdio',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-drive',
    `file=${disk},if=virtio,cache=none,format=raw`,
    '-append',
    `console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check mitigations=off ${append}`,
  ];
  const started = performance.now();
  const since = () => (performance.now() - started) / 1000;
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile);
  log.write(`$ qemu-system-x86_64 ${args.join(' ')}\n`);
  const acks = new Set();
  let repeated = 0;
  let garbled = 0;
  let rest = '';
  child.stdout.setEncoding('latin1').on('data', (chunk) => {
    log.write(chunk);
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? ''; // unfinished: kept for the next chunk, dropped at the end
    for (const raw of lines) {
      const line = raw.replace(/\r$/, '');
      const m = ACK.exec(line);
      if (m) {
        if (acks.has(m[1])) repeated += 1;
        acks.add(m[1]);
        onAck?.(m[1], since());
      } else {
        if (line.includes('@ack')) garbled += 1;
        onLine?.(line, since());
      }
    }
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    log.write(chunk);
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise((resolve) => {
    child.once('error', (err) => {
      resolve({ code: null, signal: null, error: err, acks, repeated, garbled, stderr, seconds: since() });
    });
    child.once('close', (code, signal) => {
      log.end();
      resolve({ code, signal, acks, repeated, garbled, stderr, seconds: since() });
    });
  });
  return {
    pid: child.pid,
    since,
    /** The power cut: SIGKILL, so qemu flushes nothing and the guest runs no further instruction. */
    kill: () => child.kill('SIGKILL'),
    exited,
  };
}
