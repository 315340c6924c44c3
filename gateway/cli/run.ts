// `sluice run -c FILE`: runs the gateway until SIGTERM/SIGINT (graceful), a second signal exits at once.
// SIGHUP, or a change of FILE, re-applies its pipeline in place (health-gated, reverted if worse).
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { checkHost } from '../config/host-checks.js';
import { loadConfigDocument } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { ManagedGateway } from '../fleet/managed.js';
import { startObservability } from '../observe/attach.js';
import { routeProcessWarnings } from '../observe/log.js';
import { parse, type Command } from './args.js';

export const runCommand: Command = {
  name: 'run',
  usage: '-c FILE',
  summary: 'Run the gateway with a config file.',
  help: 'SIGTERM or SIGINT stops gracefully (sources stop, sinks flush); a second signal exits at once.\nSIGHUP or saving FILE reloads its pipeline (sources, sinks, queue, log) without a restart.',
  async run(args) {
    const usage = 'sluice run -c FILE';
    const { values } = parse(args, { config: { type: 'string', short: 'c' } }, usage);
    const file = values.config ?? 'sluice.yaml';
    // What `sluice check` checks, before the queue or any directory is created: a config that cannot run
    // fails here with its lines, and leaves nothing behind.
    const { config, locate, deprecations } = loadConfigDocument(file);
    const host = checkHost(config, file, locate);
    const managed = await ManagedGateway.start(file);
    const gateway = managed.gateway;
    routeProcessWarnings(gateway.log);
    for (const warning of host.warnings) gateway.log.warn({ file }, warning);
    // Once, at start: a reload of the same file would only repeat them.
    for (const d of deprecations) gateway.log.warn({ file, line: d.line, option: d.path }, d.message);
    const observe = await startObservability(gateway); // HTTP endpoints, systemd READY/watchdog
    const reload = (why: string): void => {
      gateway.log.info({ why, file }, 'reloading the config file');
      managed
        .reload()
        .catch((err: unknown) => gateway.log.error({ err: errorMessage(err) }, 'reload failed'));
    };
    let text = readText(file);
    // Polling the file's stat survives editors that replace the file by a rename (fs.watch loses those).
    watchFile(file, { interval: 1000 }, () => {
      let now: string | undefined;
      try {
        now = readText(file);
      } catch (err) {
        gateway.log.warn({ err: errorMessage(err), file }, 'cannot read the changed config file');
        return;
      }
      if (now === text || now === undefined) return;
      text = now;
      reload('file changed');
    });
    const onHangup = (): void => reload('SIGHUP');
    process.on('SIGHUP', onHangup);
    return new Promise<number>((resolve) => {
      let signalled = false;
      const onSignal = (signal: NodeJS.Signals): void => {
        if (signalled) {
          gateway.log.warn({ signal }, 'second signal: exiting now');
          gateway.log.flush();
          process.exit(130);
        }
        signalled = true;
        gateway.log.info({ signal }, 'shutting down');
        unwatchFile(file);
        process.off('SIGHUP', onHangup);
        void observe.stopping(); // logs its own failures
        managed
          .stop()
          .then(() => observe.close())
          .then(
            () => {
              // A component abandoned in a call that never returns (a hung mount) keeps a request open in
              // libuv, and with it the process: exit once everything else is done.
              setTimeout(() => {
                gateway.log.warn('a stopped component still holds the process; exiting');
                gateway.log.flush();
                process.exit();
              }, 1000).unref();
              resolve(0);
            },
            (err: unknown) => {
              gateway.log.error({ err: errorMessage(err) }, 'shutdown failed');
              resolve(1);
            },
          );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
  },
};

/** The file's text, or undefined while it is missing (mid-rename); a reload reports any other problem. */
function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
