// systemd readiness and watchdog (Type=notify, WatchdogSec=) without native modules. Node cannot send to
// the unix datagram socket in $NOTIFY_SOCKET, so each message goes through `systemd-notify`, a child
// process; the unit therefore needs NotifyAccess=all. Since systemd 246 `systemd-notify` waits until the
// manager has read the message (sd_notify_barrier), so the old race where a short-lived sender exited
// before systemd could attribute its message to the unit is gone (Debian 11+, Raspberry Pi OS 11+).
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';

export class SystemdNotifier {
  private watchdog: NodeJS.Timeout | undefined;
  private pinging = false;

  private constructor(
    private readonly log: Logger,
    private readonly watchdogUsec: number | undefined,
    private readonly command: string,
    /** The environment systemd-notify runs with: it reads NOTIFY_SOCKET itself. */
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** A notifier when started by systemd with Type=notify ($NOTIFY_SOCKET set), else undefined. */
  static fromEnv(log: Logger, env: NodeJS.ProcessEnv = process.env, command = 'systemd-notify') {
    if (!env.NOTIFY_SOCKET) return undefined;
    const usec = Number(env.WATCHDOG_USEC);
    // WATCHDOG_PID names the process the watchdog is meant for; a child we started inherits it.
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    const watchdogUsec = Number.isFinite(usec) && usec > 0 && forUs ? usec : undefined;
    return new SystemdNotifier(log.child({ component: 'systemd' }), watchdogUsec, command, env);
  }

  /** Resolves when systemd has read the message; failures are logged (the gateway keeps running). */
  send(...assignments: string[]): Promise<boolean> {
    return new Promise((resolve) => {
      execFile(this.command, assignments, { timeout: 10_000, env: this.env }, (err, _stdout, stderr) => {
        if (err) {
          this.log.error(
            { err: errorMessage(err), stderr: stderr.trim(), message: assignments },
            'systemd-notify failed; check NotifyAccess=all in the unit',
          );
          resolve(false);
        } else resolve(true);
      });
    });
  }

  ready(status: string): Promise<boolean> {
    return this.send('READY=1', `STATUS=${status}`);
  }

  stopping(): Promise<boolean> {
    this.stopWatchdog();
    return this.send('STOPPING=1', 'STATUS=stopping: flushing sinks');
  }

  /**
   * Pings at half of WatchdogSec while the event loop turns: a blocked loop misses pings and systemd
   * restarts the gateway. A stalled sink is reported by /healthz instead: restarting would not mend an
   * upstream that accepts connections but never acknowledges.
   */
  startWatchdog(): void {
    if (this.watchdogUsec === undefined || this.watchdog) return;
    const everyMs = Math.max(500, Math.floor(this.watchdogUsec / 2000));
    this.watchdog = setInterval(() => {
      if (this.pinging) return; // a previous systemd-notify still running: never pile them up
      this.pinging = true;
      void this.send('WATCHDOG=1').finally(() => (this.pinging = false));
    }, everyMs);
    this.watchdog.unref();
    this.log.info({ interval_ms: everyMs }, 'systemd watchdog enabled');
  }

  stopWatchdog(): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
