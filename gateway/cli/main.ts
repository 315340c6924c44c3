#!/usr/bin/env node
// `sluice`: the command line. Each command lives in its own module; this file only dispatches.
import { SluiceError, isSluiceError } from '../errors.js';
import type { Command } from './args.js';
import { commands } from './commands.js';

const HELP = `Usage: sluice <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(22)} ${c.summary}`).join('\n')}

Run \`sluice <command> --help\` for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(HELP);
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write(`${await version()}\n`);
    return 0;
  }
  // Longest match first: `queue stats` before `queue`.
  const match = [...commands]
    .sort((a, b) => b.name.split(' ').length - a.name.split(' ').length)
    .find((c: Command) => c.name.split(' ').every((w, i) => argv[i] === w));
  if (!match) {
    throw new SluiceError('SLUICE_USAGE', `unknown command: ${argv.slice(0, 2).join(' ')}`, {
      hint: 'run `sluice --help` for the list',
    });
  }
  const rest = argv.slice(match.name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(
      `Usage: sluice ${match.name} ${match.usage}\n\n${match.summary}\n${match.help ? `\n${match.help}\n` : ''}`,
    );
    return 0;
  }
  return match.run(rest);
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isSluiceError(err)) {
      process.stderr.write(`sluice: ${err.explain()}\n`);
      process.exitCode = err.code === 'SLUICE_USAGE' || err.code.startsWith('SLUICE_CONFIG') ? 2 : 1;
    } else {
      process.stderr.write(
        `sluice: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 1;
    }
  },
);
