// `sluice run -c FILE`: runs the gateway until SIGTERM/SIGINT (graceful), a second signal exits at once.
import { loadConfigFile } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { Gateway } from '../runtime/gateway.js';
import { parse } from './args.js';
import type { Command } from './commands.js';

export const runCommand: Command = {
  name: 'run',
  usage: '-c FILE',
  summary: 'Run the gateway with a config file.',
  help: 'SIGTERM or SIGINT stops gracefully (sources stop, sinks flush); a second signal exits at once.',
  async run(args) {
    const usage = 'sluice run -c FILE';
    const { values } = parse(args, { config: { type: 'string', short: 'c' } }, usage);
    const config = loadConfigFile(values.config ?? 'sluice.yaml');
    const gateway = await Gateway.start(config);
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
        gateway.stop().then(
          () => resolve(0),
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
