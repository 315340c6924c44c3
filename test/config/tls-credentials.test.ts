// Connection security is one capability: one TLS group and one credentials group in every component, old flat
// TLS options moved with a warning, and one secret reader that takes the first line of a file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readPassword, readSecretFile } from '../../gateway/config/credentials.js';
import { parseConfigDocument, validateConfig } from '../../gateway/config/load.js';
import { clientTlsOptions } from '../../gateway/config/tls.js';
import { isSluiceError } from '../../gateway/errors.js';
import { problems } from './helpers.js';
import { sluice, sluiceSpawn } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const gateway = 'gateway:\n  id: gw1\n';
const mqttSource = (extra: string): string =>
  `${gateway}sources:\n  site:\n    type: mqtt\n    url: mqtts://broker:8883\n${extra}`;
const fleet = (extra: string): string =>
  `${gateway}fleet:\n  trusted_keys:\n    - { id: ops, public_key: PEM }\n  mqtt:\n    url: mqtts://fleet:8883\n${extra}`;

describe('old flat TLS options', () => {
  test('the mqtt source: moved into tls, one warning each with its line, the same options as the new shape', () => {
    const old = parseConfigDocument(
      mqttSource('    ca_file: /ca.pem\n    cert_file: /c.pem\n    key_file: /k.pem\n'),
      'old.yaml',
    );
    const now = parseConfigDocument(
      mqttSource('    tls:\n      ca_file: /ca.pem\n      cert_file: /c.pem\n      key_file: /k.pem\n'),
      'new.yaml',
    );
    expect(old.config).toEqual(now.config);
    expect(old.config.sources.site).not.toHaveProperty('ca_file');
    expect(old.deprecations).toEqual([
      {
        path: 'sources.site.ca_file',
        line: 7,
        message: '`sources.site.ca_file` is deprecated: move it to `sources.site.tls.ca_file`',
      },
      {
        path: 'sources.site.cert_file',
        line: 8,
        message: '`sources.site.cert_file` is deprecated: move it to `sources.site.tls.cert_file`',
      },
      {
        path: 'sources.site.key_file',
        line: 9,
        message: '`sources.site.key_file` is deprecated: move it to `sources.site.tls.key_file`',
      },
    ]);
    expect(now.deprecations).toEqual([]);
  });

  test('the fleet channel: moved into fleet.mqtt.tls, beside a tls group that has the other options', () => {
    const old = parseConfigDocument(fleet('    ca_file: /ca.pem\n    tls: { verify_hostname: false }\n'));
    expect(old.config.fleet?.mqtt?.tls).toEqual({ ca_file: '/ca.pem', verify_hostname: false });
    expect(old.deprecations.map((d) => d.message)).toEqual([
      '`fleet.mqtt.ca_file` is deprecated: move it to `fleet.mqtt.tls.ca_file`',
    ]);
  });

  test('a pushed config (JSON, no file) with old options is accepted in the new shape', () => {
    const c = validateConfig({
      gateway: { id: 'gw1' },
      sources: { site: { type: 'mqtt', url: 'mqtts://b:8883', ca_file: '/ca.pem' } },
    });
    expect(c.sources.site).toMatchObject({ tls: { ca_file: '/ca.pem', verify_hostname: true } });
  });

  test('the old and the new name together are an error naming both paths', () => {
    const msg = problems(mqttSource('    ca_file: /a.pem\n    tls:\n      ca_file: /b.pem\n'));
    expect(msg).toContain(
      'test.yaml:7: sources.site.ca_file: `sources.site.ca_file` and `sources.site.tls.ca_file` are both given',
    );
    expect(msg).not.toContain('unknown option');
  });

  test('other components never had the flat options: they stay unknown there', () => {
    expect(
      problems(
        `${gateway}sinks:\n  k:\n    type: kafka\n    brokers: [k:9092]\n    topic: t\n    ca_file: /x\n`,
      ),
    ).toContain('unknown option "ca_file"');
  });
});

describe('one TLS group', () => {
  test('cert_file and key_file go together, in every component that embeds it', () => {
    expect(problems(mqttSource('    tls: { cert_file: /c.pem }\n'))).toMatch(
      /sources\.site\.tls\.key_file: cert_file and key_file go together/,
    );
    expect(problems(fleet('    tls: { key_file: /k.pem }\n'))).toMatch(
      /fleet\.mqtt\.tls\.key_file: cert_file and key_file go together/,
    );
  });

  test('the reader: files as Buffers, the chain always checked, the host name check only when asked', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    const on = clientTlsOptions({ ca_file: join(dir, 'ca.pem'), verify_hostname: true });
    expect(on.ca?.toString()).toBe('CA');
    expect(on.rejectUnauthorized).toBe(true);
    expect(on.checkServerIdentity).toBeUndefined();
    const off = clientTlsOptions({ verify_hostname: false });
    expect(off.rejectUnauthorized).toBe(true);
    expect(off.checkServerIdentity?.('h', {} as never)).toBeUndefined();
  });

  test('a missing file is SLUICE_CONFIG_READ naming what it is, the file and what to do', () => {
    let err: unknown;
    try {
      clientTlsOptions({ ca_file: '/nonexistent/ca.pem', verify_hostname: true });
    } catch (e) {
      err = e;
    }
    expect(isSluiceError(err) && err.code).toBe('SLUICE_CONFIG_READ');
    expect(String((err as Error).message)).toContain('cannot read TLS CA file /nonexistent/ca.pem');
  });
});

describe('one credentials group and secret reader', () => {
  test('the first line is the secret, without LF or CRLF (a file written on Windows)', () => {
    const dir = tempDir();
    for (const [name, text] of [
      ['lf', 'hunter2\n'],
      ['crlf', 'hunter2\r\n'],
      ['none', 'hunter2'],
      ['more', 'hunter2\r\nsecond line\r\n'],
    ] as const) {
      writeFileSync(join(dir, name), text);
      expect(readSecretFile(join(dir, name), 'password file'), name).toBe('hunter2');
      expect(readPassword({ password_file: join(dir, name) }), name).toBe('hunter2');
    }
  });

  test('an empty file is a config error, never an empty password sent to a peer', () => {
    const dir = tempDir();
    for (const text of ['', '\n', '\r\n']) {
      writeFileSync(join(dir, 'empty'), text);
      expect(() => readSecretFile(join(dir, 'empty'), 'password file')).toThrow(
        expect.objectContaining({
          code: 'SLUICE_CONFIG_INVALID',
          message: expect.stringContaining('empty first line'),
        }),
      );
    }
  });

  test('password and password_file are alternatives (exactly one for kafka SASL)', () => {
    expect(readPassword({ password: 'inline' })).toBe('inline');
    expect(readPassword({ username: 'u' })).toBeUndefined();
    expect(problems(mqttSource('    username: u\n    password: p\n    password_file: /p\n'))).toContain(
      'sources.site.password: give at most one of password and password_file',
    );
    expect(
      problems(
        `${gateway}sinks:\n  k:\n    type: kafka\n    brokers: [k:9092]\n    topic: t\n    sasl: { mechanism: plain, username: u }\n`,
      ),
    ).toContain('sinks.k.sasl.password: give exactly one of password and password_file');
  });
});

describe('the CLI reports old options', () => {
  /** A config whose mqtt source uses the flat ca_file (the source retries a closed port meanwhile). */
  function oldConfig(): string {
    const dir = tempDir();
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'CA');
    const file = join(dir, 'sluice.yaml');
    writeFileSync(
      file,
      `gateway:\n  id: gw1\n  data_dir: ${dir}/data\nobserve:\n  http:\n    enabled: false\n` +
        `sources:\n  site:\n    type: mqtt\n    url: mqtts://127.0.0.1:1\n    ca_file: ${ca}\n`,
    );
    return file;
  }

  test('`sluice check` prints the deprecation with its line and exits 0', () => {
    const file = oldConfig();
    const r = sluice(['check', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `  warning: ${file}:11: \`sources.site.ca_file\` is deprecated: move it to \`sources.site.tls.ca_file\``,
    );
  });

  test('`sluice run` logs it once, at warn', async () => {
    const child = sluiceSpawn(['run', '-c', oldConfig()]);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 15_000;
      while (!out.includes('"started') && !out.includes('is deprecated') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const lines = out.split('\n').filter((l) => l.includes('is deprecated'));
    expect(lines, out).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      level: 'warn',
      option: 'sources.site.ca_file',
      msg: '`sources.site.ca_file` is deprecated: move it to `sources.site.tls.ca_file`',
    });
  });
});
