// Run by the emulated Node in the copied tree (test/arm/native.mjs): loads each native package the gateway
// uses, does one small thing with it, and prints one JSON line: what loaded, what failed, and the .node files
// this process has mapped (/proc/self/maps; under qemu-user it lists the emulated process's own mappings).
'use strict';
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { createRequire } = require('node:module');
const { tmpdir } = require('node:os');
const { dirname, join } = require('node:path');

// The packages of the tree this runs in (the working directory), not of the checkout holding this file.
const load = createRequire(join(process.cwd(), 'package.json'));

const dir = mkdtempSync(join(tmpdir(), 'sluice-arm-probe-'));
const PROBES = {
  lmdb: () => {
    const db = load('lmdb').open({ path: join(dir, 'lmdb') });
    db.putSync('k', { v: 42 });
    const v = db.get('k').v;
    db.close();
    return `put/get ${v}`;
  },
  'msgpackr-extract': () => `exports ${Object.getOwnPropertyNames(load('msgpackr-extract')).join(' ')}`,
  'cbor-extract': () => `exports ${Object.getOwnPropertyNames(load('cbor-extract')).join(' ')}`,
  '@serialport/bindings-cpp': () =>
    `binding ${load('@serialport/bindings-cpp').autoDetect().name ?? 'loaded'}`,
  'better-sqlite3': () => {
    const db = new (load('better-sqlite3'))(':memory:');
    const row = db.prepare('select sqlite_version() as v').get();
    db.close();
    return `sqlite ${row.v}`;
  },
  kerberos: () => {
    try {
      return `${typeof load('kerberos').initializeClient} initializeClient`;
    } catch (err) {
      // kerberos reports its Debug fallback's "cannot find module"; the Release build's own error says why.
      const binary = join(
        dirname(load.resolve('kerberos/package.json')),
        'build',
        'Release',
        'kerberos.node',
      );
      try {
        process.dlopen({ exports: {} }, binary);
      } catch (dlopenError) {
        throw new Error(`${binary}: ${dlopenError.message}`);
      }
      throw err;
    }
  },
};

const loaded = {};
const failed = {};
for (const [name, probe] of Object.entries(PROBES)) {
  try {
    loaded[name] = probe();
  } catch (err) {
    failed[name] = String(err && err.message ? err.message : err).split('\n')[0];
  }
}
rmSync(dir, { recursive: true, force: true });
// A maps line: address perms offset dev inode pathname.
const mapped = readFileSync('/proc/self/maps', 'utf8')
  .split('\n')
  .map((line) => line.split(/\s+/).slice(5).join(' '))
  .filter((path, i, all) => path.endsWith('.node') && all.indexOf(path) === i);
process.stdout.write(`${JSON.stringify({ arch: process.arch, loaded, failed, mapped })}\n`);
