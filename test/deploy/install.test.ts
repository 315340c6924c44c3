// deploy/install.sh in a scratch root (--root, --no-systemctl, --no-npm): installs the application, the
// command, the unit, a config skeleton and the udev examples; a second run changes nothing and keeps an
// edited config; uninstall keeps config and queued data, --purge leaves no file behind; all of it twice.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { loadConfigFile } from '../../gateway/config/load.js';
import { tempDir } from '../helpers/tmp.js';

const script = fileURLToPath(new URL('../../deploy/install.sh', import.meta.url));

function install(root: string, ...extra: string[]): string {
  const r = spawnSync('sh', [script, '--root', root, '--no-systemctl', '--no-npm', ...extra], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r.stdout;
}

/** Every file and link under root with a content hash (and the mode of executables). */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else
        out[relative(root, p)] =
          `${(st.mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`;
    }
  };
  walk(root);
  return out;
}

test('the script is valid POSIX sh', () => {
  const r = spawnSync('sh', ['-n', script], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
});

test('install, reinstall, uninstall and purge in a scratch root, twice', () => {
  const root = tempDir('sluice-root-');
  for (let round = 1; round <= 2; round++) {
    const out = install(root);
    expect(out).toContain('scratch root: not creating user sluice');
    const first = tree(root);
    for (const f of [
      'opt/sluice/dist/gateway/cli/main.js',
      'opt/sluice/package.json',
      'opt/sluice/deploy/systemd/sluice.service',
      'usr/local/bin/sluice',
      'etc/sluice/sluice.yaml',
      'etc/systemd/system/sluice.service',
      'etc/udev/rules.d/60-sluice-serial.rules',
    ])
      expect(first, `round ${round}: ${f}`).toHaveProperty([f]);
    expect(statSync(join(root, 'var/lib/sluice')).isDirectory()).toBe(true);
    expect(first['usr/local/bin/sluice']).toMatch(/^755 /);
    expect(first['etc/sluice/sluice.yaml']).toMatch(/^640 /);
    expect(readFileSync(join(root, 'usr/local/bin/sluice'), 'utf8')).toContain(
      `exec ${process.execPath} /opt/sluice/dist/gateway/cli/main.js "$@"`,
    );
    expect(readFileSync(join(root, 'etc/systemd/system/sluice.service'), 'utf8')).toContain(
      `ExecStart=${process.execPath} /opt/sluice/dist/gateway/cli/main.js run -c /etc/sluice/sluice.yaml`,
    );
    // The skeleton is a valid config with this host's name as the gateway id.
    const config = loadConfigFile(join(root, 'etc/sluice/sluice.yaml'));
    expect(config.gateway.id).not.toBe('CHANGE-ME');
    expect(config.gateway.data_dir).toBe('/var/lib/sluice');

    // Idempotent: a second run leaves the same tree, and never overwrites an edited config.
    install(root);
    expect(tree(root)).toEqual(first);
    appendFileSync(join(root, 'etc/sluice/sluice.yaml'), '# edited by the operator\n');
    writeFileSync(join(root, 'var/lib/sluice/queued'), 'readings not yet forwarded');
    expect(install(root)).toContain('kept the existing /etc/sluice/sluice.yaml');
    expect(readFileSync(join(root, 'etc/sluice/sluice.yaml'), 'utf8')).toContain('# edited by the operator');

    // Uninstall keeps config and data, and can run twice.
    for (let i = 0; i < 2; i++) {
      expect(install(root, '--uninstall')).toContain('kept /etc/sluice and /var/lib/sluice');
      expect(Object.keys(tree(root)).sort()).toEqual(['etc/sluice/sluice.yaml', 'var/lib/sluice/queued']);
    }
    install(root, '--uninstall', '--purge');
    expect(tree(root)).toEqual({});
  }
});

test('bad options exit 2 with a hint; a missing root is refused', () => {
  const r = spawnSync('sh', [script, '--frobnicate'], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('unknown option --frobnicate');
  const missing = spawnSync('sh', [script, '--root', '/nonexistent-sluice-root', '--no-systemctl'], {
    encoding: 'utf8',
  });
  expect(missing.status).toBe(1);
  expect(missing.stderr).toContain('is not a directory');
  expect(spawnSync('sh', [script, '--help'], { encoding: 'utf8' }).stdout).toContain('--uninstall');
});
