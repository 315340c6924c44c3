// `npm test`'s first step (package.json pretest): makes a fresh Debian machine ready for the tests, and is
// quick and offline when it already is. Steps, in order: the Debian packages (debian.mjs), the optional
// native npm packages built against them (native.mjs), the JVM peers through Maven (jvm.mjs), the helpers
// built with gcc (gcc.mjs). Plain Node, no dependencies: it runs
// before anything is built. One line per step, with its time; a failure says what to do and exits 1.
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { debianStep } from './debian.mjs';
import { gccStep } from './gcc.mjs';
import { jvmStep } from './jvm.mjs';
import { nativeStep } from './native.mjs';
import { SetupError, takeLock } from './lib.mjs';

const STEPS = { debian: debianStep, native: nativeStep, jvm: jvmStep, gcc: gccStep };

const USAGE = `usage: node test/setup/index.mjs [--check] [--only=${Object.keys(STEPS).join(',')}] [--root=DIR]
  --check   report what is missing, change nothing; exit 1 if anything is
  --only    run these steps only (comma separated)
  --root    the checkout to set up (default: the one holding this script)
  env SLUICE_SETUP_DEBIAN_PACKAGES replaces test/setup/debian-packages.txt (empty: no packages)`;

/**
 * What a step gets.
 * @typedef {object} Context
 * @property {string} root the checkout
 * @property {boolean} check report only
 * @property {(line: string) => void} say
 * @property {() => void} missing marks something missing (--check)
 * @property {() => Promise<void>} lock taken before changing anything; once per process
 * @property {(label: string, work: () => Promise<string>) => Promise<void>} timed runs work, prints
 *   "label: result (time)"
 */

function say(line) {
  process.stdout.write(`setup: ${line}\n`);
}

function ms(since) {
  const took = performance.now() - since;
  return took < 1000 ? `${Math.round(took)} ms` : `${(took / 1000).toFixed(1)} s`;
}

async function main(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        check: { type: 'boolean', default: false },
        only: { type: 'string' },
        root: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const only = values.only?.split(',').filter(Boolean) ?? Object.keys(STEPS);
  const unknown = only.filter((name) => !(name in STEPS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown step ${unknown.join(', ')}\n${USAGE}\n`);
    return 2;
  }

  const start = performance.now();
  const root = resolve(values.root ?? fileURLToPath(new URL('../../', import.meta.url)));
  let missing = 0;
  let locked;
  /** @type {Context} */
  const ctx = {
    root,
    check: values.check,
    say,
    missing: () => {
      missing += 1;
    },
    lock: () => (locked ??= takeLock(resolve(root, '.cache', 'setup'), say)),
    timed: async (label, work) => {
      const since = performance.now();
      const result = await work();
      say(`${label}: ${result} (${ms(since)})`);
    },
  };
  try {
    for (const name of Object.keys(STEPS)) if (only.includes(name)) await STEPS[name](ctx);
  } catch (err) {
    if (!(err instanceof SetupError)) throw err;
    const lines = [`setup: FAILED ${err.code}: ${err.message}`];
    if (err.command) lines.push(`  ${err.command}`);
    if (err.detail) lines.push(err.detail);
    if (err.hint) lines.push(`  hint: ${err.hint}`);
    process.stderr.write(`${lines.join('\n')}\n`);
    return 1;
  }
  if (values.check && missing > 0) {
    say(`${missing} missing (--check: nothing changed; node test/setup/index.mjs sets them up)`);
    return 1;
  }
  say(`ready (${ms(start)})`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
