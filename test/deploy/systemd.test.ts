// The systemd unit: `systemd-analyze verify` accepts it, the hardening the issue asks for is in it, and the
// offline security score stays in the "OK" band. sd_notify goes through `systemd-notify` to a socket that
// behaves like the manager's (reads the datagram, closes passed fds): READY=1, then watchdog pings.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { silentLogger } from '../../gateway/observe/log.js';
import { SystemdNotifier } from '../../gateway/observe/sd-notify.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';

const unitPath = fileURLToPath(new URL('../../deploy/systemd/sluice.service', import.meta.url));
const unit = readFileSync(unitPath, 'utf8');

function need(tool: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
    throw new Error(`${tool} is missing: apt-get install -y ${pkg}`);
}

/** The unit with ExecStart pointing at this machine's node (verify checks the binary exists). */
function unitCopy(): string {
  const dir = tempDir('sluice-unit-');
  const file = join(dir, 'sluice.service');
  if (existsSync('/usr/bin/node')) copyFileSync(unitPath, file);
  else writeFileSync(file, unit.replace('/usr/bin/node ', `${process.execPath} `));
  return file;
}

function systemdVersion(): number {
  const r = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  return Number(/systemd (\d+)/.exec(r.stdout)?.[1] ?? 0);
}

test('systemd-analyze verify accepts the unit (only keys newer than this systemd are ignored)', () => {
  need('systemd-analyze', 'systemd');
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', unitCopy()], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const problems = r.stderr
    .split('\n')
    .filter(Boolean)
    // RestartSteps= and RestartMaxDelaySec= arrived in systemd 254; older versions ignore them.
    .filter((l) => !(systemdVersion() < 254 && /Unknown key '(RestartSteps|RestartMaxDelaySec)'/.test(l)));
  expect(problems).toEqual([]);
});

test('the unit is hardened as specified', () => {
  const directives = new Set(unit.split('\n').filter((l) => /^\w+=/.test(l)));
  for (const d of [
    'Type=notify',
    'NotifyAccess=all',
    'WatchdogSec=30s',
    'User=sluice',
    'SupplementaryGroups=dialout',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ReadWritePaths=/var/lib/sluice',
    'Restart=always',
    'RestartSec=1s',
    'RestartSteps=10',
    'RestartMaxDelaySec=5min',
    'CapabilityBoundingSet=',
    'DevicePolicy=closed',
    'DeviceAllow=char-ttyUSB rw',
  ])
    expect(directives, d).toContain(d);
  // Node's JIT writes executable memory: this would crash it at start.
  expect(unit).not.toMatch(/^MemoryDenyWriteExecute=yes/m);
});

test('systemd-analyze security rates the unit OK (exposure below 3)', () => {
  need('systemd-analyze', 'systemd');
  const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitCopy()], {
    encoding: 'utf8',
  });
  const m = /Overall exposure level for sluice\.service: ([\d.]+)/.exec(r.stdout);
  expect(m, r.stdout + r.stderr).not.toBeNull();
  expect(Number(m![1])).toBeLessThan(3);
});

/** A stand-in for the manager's notify socket: prints each datagram, closes the fds passed with it. */
const FAKE_MANAGER = `
import socket, sys, os, array
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i"); fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
            for fd in fds: os.close(fd)
    print(msg.decode().replace("\\n", "|"), flush=True)
`;

test('READY=1 and watchdog pings reach $NOTIFY_SOCKET through systemd-notify', async () => {
  need('systemd-notify', 'systemd');
  need('python3', 'python3');
  const dir = tempDir('sluice-notify-');
  const sock = join(dir, 'notify');
  const manager = spawn('python3', ['-c', FAKE_MANAGER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  let seen = '';
  manager.stdout.on('data', (d: Buffer) => (seen += d.toString()));
  try {
    await until(() => seen.includes('listening'), { timeoutMs: 5000, what: 'the fake manager listening' });
    const env = { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid) };
    const notifier = SystemdNotifier.fromEnv(silentLogger, env);
    expect(notifier).toBeDefined();
    expect(await notifier!.ready('forwarding')).toBe(true);
    expect(seen).toContain('READY=1|STATUS=forwarding');
    notifier!.startWatchdog(); // every 500 ms
    await until(() => seen.includes('WATCHDOG=1'), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'a watchdog ping',
      state: () => seen,
    });
    expect(seen).toContain('WATCHDOG=1');
    expect(await notifier!.stopping()).toBe(true);
    expect(seen).toContain('STOPPING=1');
    // Not under systemd, or the watchdog meant for another process: nothing to do.
    expect(SystemdNotifier.fromEnv(silentLogger, {})).toBeUndefined();
  } finally {
    manager.kill();
  }
});
