// `sluice check` catches what `sluice run` would refuse (files, directories, the queue's size, conflicting
// settings, YAML alias bombs), and `run` refuses it the same way before it creates anything.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cliPath, sluice } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const isRoot = process.getuid?.() === 0;

/** A config file in a fresh directory; `data` is its data_dir (not created). */
function setup(body: (dir: string) => string): { dir: string; file: string; data: string } {
  const dir = tempDir();
  const data = join(dir, 'data');
  const file = join(dir, 'sluice.yaml');
  writeFileSync(file, `gateway:\n  id: gw\n  data_dir: ${data}\n${body(dir)}`);
  return { dir, file, data };
}

/** Runs `sluice run` on a config that must be refused: it exits 2 at once (a hang is a failure too). */
function runRefused(file: string): { code: number | null; stderr: string } {
  const r = sluice(['run', '-c', file]);
  return { code: r.code, stderr: r.stderr };
}

/** The CLI as another user (nobody), for permission cases root cannot see. */
function sluiceAsNobody(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    uid: 65_534,
    gid: 65_534,
  });
  return { code: r.status, stderr: r.stderr };
}

describe('queue.max_bytes against the filesystem (issue 15.3)', () => {
  test('more than the filesystem holds: check and run exit 2 with what it has; run creates nothing', () => {
    const probe = tempDir();
    const fs = statfsSync(probe);
    const total = fs.blocks * fs.bsize;
    // Above the filesystem, below the schema's 8TiB cap (skipped on a filesystem larger than that).
    if (total + 1024 ** 3 >= 8 * 1024 ** 4) return;
    const { file, data } = setup(() => `queue:\n  max_bytes: ${total + 1024 ** 3}\n`);
    const r = sluice(['check', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SLUICE_CONFIG_INVALID');
    expect(r.stderr).toMatch(
      new RegExp(
        `${file}:5: queue\\.max_bytes: .* cannot fit: the filesystem of .* is .* in all \\(.* free\\)`,
      ),
    );
    expect(r.stderr).not.toContain('    at ');
    const run = runRefused(file);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('cannot fit');
    expect(existsSync(data)).toBe(false); // no data.mdb, no directory
  });

  test('100000GB is refused by the schema (LMDB address space), even with --schema-only', () => {
    const { file } = setup(() => 'queue:\n  max_bytes: 100000GB\n');
    for (const args of [
      ['check', file],
      ['check', '--schema-only', file],
      ['run', '-c', file],
    ]) {
      const r = sluice(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(`${file}:5: queue.max_bytes: at most 8TiB`);
    }
  });

  test('TiB and PiB are units; an unknown unit lists the ones that exist', () => {
    const ok = setup(
      () =>
        'queue:\n  max_bytes: 1GiB\nsinks:\n  out:\n    type: file\n    path: x\n    max_file_bytes: 1TiB\n',
    );
    expect(sluice(['check', '--schema-only', ok.file]).code).toBe(0);
    const bad = setup(() => 'queue:\n  max_bytes: 2ZiB\n');
    const r = sluice(['check', bad.file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown unit "ZiB"; units: B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB');
  });
});

describe('check refuses what run refuses (issue 15.5)', () => {
  test('a missing TLS certificate: check exits 2 with its line and a hint; run creates no file', () => {
    const { dir, file, data } = setup(
      (d) =>
        `sources:\n  devices:\n    type: mqtt_broker\n    listeners:\n      - type: tls\n        port: 0\n        cert_file: ${d}/server.crt\n        key_file: ${d}/server.key\nsinks:\n  out:\n    type: file\n    path: ${d}/out\n`,
    );
    writeFileSync(join(dir, 'server.key'), 'not checked for content here\n');
    const r = sluice(['check', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `${file}:10: sources.devices.listeners.0.cert_file: cannot read TLS certificate ${dir}/server.crt: ENOENT`,
    );
    expect(r.stderr).not.toContain('key_file');
    const run = runRefused(file);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('cannot read TLS certificate');
    expect(existsSync(data)).toBe(false);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  test('a missing password_file says to create it with sluice passwd', () => {
    const { dir, file } = setup(
      (d) => `sources:\n  devices:\n    type: mqtt_broker\n    password_file: ${d}/passwords\n`,
    );
    const r = sluice(['check', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `${file}:7: sources.devices.password_file: cannot read password file ${dir}/passwords`,
    );
    expect(r.stderr).toContain('create it with `sluice passwd -f FILE USERNAME`');
  });

  test.skipIf(!isRoot)('an unreadable password_file says who may not read it, not to create it', () => {
    const { dir, file } = setup(
      (d) => `sources:\n  devices:\n    type: mqtt_broker\n    password_file: ${d}/passwords\n`,
    );
    chmodSync(dir, 0o777); // nobody may create data_dir here: only the password file is unreadable
    writeFileSync(join(dir, 'passwords'), 'dev:$scrypt$...\n', { mode: 0o600 });
    const r = sluiceAsNobody(['check', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read password file');
    expect(r.stderr).toContain('EACCES');
    expect(r.stderr).toMatch(/user nobody \(uid 65534\) may not read it/);
    expect(r.stderr).not.toContain('sluice passwd');
  });

  test('a data_dir that is a file, or that the user may not write, fails check and run', () => {
    const { file, data } = setup(() => '');
    writeFileSync(data, 'a file where the data directory should be\n');
    const r = sluice(['check', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:3: gateway.data_dir: ${data} is a file, not a directory`);
    expect(runRefused(file).code).toBe(2);
    if (!isRoot) return;
    const ro = setup(() => '');
    chmodSync(ro.dir, 0o755); // nobody may read the config, not create data/ in it
    const n = sluiceAsNobody(['check', ro.file]);
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(
      /gateway\.data_dir: .*data does not exist and user nobody \(uid 65534\) may not create it in .* \(EACCES\)/,
    );
    expect(sluiceAsNobody(['run', '-c', ro.file]).code).toBe(2);
    expect(readdirSync(ro.dir)).toEqual(['sluice.yaml']);
  });

  test('two file sinks writing the same files are refused; distinct prefixes in one directory are not', () => {
    const same = setup(
      (d) =>
        `sinks:\n  a:\n    type: file\n    path: ${d}/out\n  b:\n    type: file\n    path: ${d}/./out/\n`,
    );
    const r = sluice(['check', '--schema-only', same.file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${same.file}:10: sinks.b.path: writes the same files as sink "a"`);
    const distinct = setup(
      (d) =>
        `sinks:\n  a:\n    type: file\n    path: ${d}/out\n    prefix: hot\n  b:\n    type: file\n    path: ${d}/out\n    prefix: cold\n`,
    );
    expect(sluice(['check', distinct.file]).code).toBe(0);
  });

  test('initial_ms above max_ms is refused wherever a backoff appears', () => {
    const cases = [
      'sinks:\n  out:\n    type: file\n    path: x\n    retry: { initial_ms: 5000, max_ms: 1000 }\n',
      "sinks:\n  k:\n    type: kafka\n    brokers: ['k:9092']\n    topic: t\n    retry: { initial_ms: 5000, max_ms: 2000 }\n",
      'sources:\n  m:\n    type: mqtt\n    url: mqtt://b:1883\n    reconnect: { initial_ms: 60000 }\n',
      'sources:\n  s:\n    type: serial\n    path: /dev/x\n    driver: { type: nmea }\n    reopen_initial_ms: 60000\n    reopen_max_ms: 1000\n',
    ];
    const accepted = cases.filter((body) => {
      const { file } = setup(() => body);
      const r = sluice(['check', '--schema-only', file]);
      return r.code !== 2 || !/initial_ms: cannot exceed (reopen_)?max_ms/.test(r.stderr);
    });
    expect(accepted).toEqual([]);
  });

  test('a source and a sink of the same name are refused', () => {
    const { file } = setup(
      () => 'sources:\n  main:\n    type: simulator\nsinks:\n  main:\n    type: file\n    path: x\n',
    );
    const r = sluice(['check', '--schema-only', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:8: sinks.main: "main" also names a source`);
  });

  test('every example in deploy/config passes check --schema-only, and demo.yaml the full check', () => {
    const dir = new URL('../../deploy/config/', import.meta.url).pathname;
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
      const r = sluice(['check', '--schema-only', join(dir, f)]);
      expect(r.code, `${f}: ${r.stderr}`).toBe(0);
    }
    const demo = sluice(['check', 'deploy/config/demo.yaml']);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toContain('host: files readable and directories writable as');
  });
});

describe('YAML alias bombs (issue 15.6)', () => {
  test('an alias bomb is a config error with its line, exit 2 and no stack trace', () => {
    const dir = tempDir();
    const file = join(dir, 'bomb.yaml');
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [i, name] of ['b', 'c', 'd', 'e', 'f'].entries()) {
      const prev = String.fromCharCode('a'.charCodeAt(0) + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    writeFileSync(file, `gateway:\n  id: gw\n${levels.join('\n')}\n`);
    for (const args of [
      ['check', file],
      ['run', '-c', file],
    ]) {
      const r = sluice(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(`SLUICE_CONFIG_INVALID: ${file} is not a valid Sluice config`);
      expect(r.stderr).toContain(`${file}:4: (top level): YAML: aliases expand too much`);
      expect(r.stderr).toContain('maxAliasCount 100');
      expect(r.stderr).not.toContain('ReferenceError');
      expect(r.stderr).not.toContain('    at ');
    }
  });

  test('a few aliases are still fine', () => {
    const { file } = setup(
      (d) =>
        `sinks:\n  a:\n    type: file\n    path: ${d}/a\n    batch: &batch { max_count: 10 }\n  b:\n    type: file\n    path: ${d}/b\n    batch: *batch\n`,
    );
    const r = sluice(['check', file]);
    expect(r.code, r.stderr).toBe(0);
  });
});
