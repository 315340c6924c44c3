// The parts of the HDFS sink's Kerberos support that need no cluster: the config it takes, the facts read
// from a real Hadoop token, and the clear error (not a crash) when the optional `kerberos` package is absent,
// proven in a child Node whose module resolution has no such package.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { schema } from '../../../gateway/sinks/hdfs/schema.js';
import { tokenFacts } from '../../../gateway/sinks/hdfs/tokens.js';
import { tempDir } from '../../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A token the kerberized peer (max lifetime 20 s) issued to `sluice`, since cancelled: URL-safe form. */
const REAL_TOKEN =
  'IAAGc2x1aWNlBnNsdWljZQCKAaI0t6c7igGiNLf1WwUCFKzOVWTw4HPnQQGeE7erswBcIPCPE1NXRUJIREZTIGRlbGVnYXRpb24PMTI3LjAuMC4xOjQ2Mzc5';

const base = { type: 'hdfs', namenodes: ['https://nn1:9871'], path: '/data', secure: true };

describe('auth.type kerberos config', () => {
  test('a principal with its realm, a keytab and a krb5.conf are taken; a principal without realm is not', () => {
    const ok = schema.safeParse({
      ...base,
      auth: { type: 'kerberos', principal: 'sluice/gw1@EXAMPLE.COM', keytab: '/etc/sluice/gw.keytab' },
    });
    expect(ok.success).toBe(true);
    const bad = schema.safeParse({ ...base, auth: { type: 'kerberos', principal: 'sluice' } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toMatch(/realm/);
    const pseudo = schema.safeParse({ ...base, auth: { type: 'pseudo', user: 'x' } });
    expect(JSON.stringify(pseudo.error?.issues)).toMatch(/use kerberos \(a keytab\) or delegation_token/);
  });
});

describe('delegation token facts', () => {
  test("a real token's identifier: owner, renewer, issue date and max date", () => {
    const f = tokenFacts(REAL_TOKEN);
    expect(f).toMatchObject({ owner: 'sluice', renewer: 'sluice' });
    expect(f!.maxDate - f!.issueDate).toBe(20_000);
  });

  test('anything else is undefined, never a throw', () => {
    for (const t of [
      '',
      'abc',
      'AAAA',
      REAL_TOKEN.slice(0, 20),
      '____',
      Buffer.alloc(64, 0xff).toString('base64url'),
    ]) {
      expect(tokenFacts(t)).toBeUndefined();
    }
  });
});

describe('without the optional kerberos package', () => {
  test('connect fails with SLUICE_DEPENDENCY_MISSING saying what to install; nothing crashes', () => {
    const dir = tempDir();
    // The package made unresolvable the way a machine without it is: ERR_MODULE_NOT_FOUND from resolution.
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `export function resolve(specifier, context, next) {
        if (specifier === 'kerberos') {
          const err = new Error("Cannot find package 'kerberos'");
          err.code = 'ERR_MODULE_NOT_FOUND';
          throw err;
        }
        return next(specifier, context);
      }\n`,
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      // registerHooks (Node >= 22.15) where it exists: Node 26 deprecates register() with a warning on stderr.
      `import * as mod from 'node:module';
      const url = ${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)};
      if (typeof mod.registerHooks === 'function') mod.registerHooks({ resolve: (await import(url)).resolve });
      else mod.register(url);\n`,
    );
    writeFileSync(join(dir, 'gw.keytab'), '');
    const dist = (p: string): string => JSON.stringify(pathToFileURL(join(ROOT, 'dist', p)).href);
    writeFileSync(
      join(dir, 'main.mjs'),
      `import { HdfsSink } from ${dist('gateway/sinks/hdfs/sink.js')};
      import { schema } from ${dist('gateway/sinks/hdfs/schema.js')};
      import { silentLogger } from ${dist('gateway/observe/log.js')};
      import { noMetrics } from ${dist('gateway/metrics-spec.js')};
      const config = schema.parse({ ...${JSON.stringify(base)}, namenodes: ['https://127.0.0.1:9'],
        auth: { type: 'kerberos', principal: 'sluice@EXAMPLE.COM', keytab: ${JSON.stringify(join(dir, 'gw.keytab'))} } });
      const sink = new HdfsSink('hdfs', config, { gatewayId: 'gw1', dataDir: ${JSON.stringify(dir)}, log: silentLogger, metrics: noMetrics });
      const err = await sink.connect().then(() => undefined, (e) => e);
      await sink.close();
      console.log(JSON.stringify({ code: err?.code, hint: err?.hint, message: err?.message, health: sink.health().state }));\n`,
    );
    const r = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), join(dir, 'main.mjs')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, string>;
    expect(out.code).toBe('SLUICE_DEPENDENCY_MISSING');
    expect(out.message).toMatch(/optional package `kerberos`/);
    expect(out.hint).toMatch(/libkrb5-dev.*npm install kerberos/);
    expect(out.hint).toMatch(/delegation_token/);
  });
});
