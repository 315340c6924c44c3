// `sluice check` on sql sources: a valid config passes, and each mistake is named at its path with what to do.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { sluice } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';
import { problems } from '../../config/helpers.js';
import { schema as sqlSchema } from '../../../gateway/sources/sql/schema.js';

const head = `gateway: { id: gw, data_dir: /tmp/sluice-sql-check }
sinks: { out: { type: file, path: /tmp/sluice-sql-check/out } }
sources:
  db:
    type: sql
`;

test('each mistake in an sql source is named at its path', () => {
  const text = `${head}    driver: postgres
    table: { name: t }
    query: 'SELECT * FROM t WHERE id > {last}'
    incremental: { mode: lastmodified, check_column: ts }
    timestamp: { column: ts, time_zone: Mars/Olympus }
    password: a
    password_file: /etc/pw
`;
  const msg = problems(text);
  expect(msg).toMatch(/sources\.db\.database.*needs the database name/);
  expect(msg).toMatch(/sources\.db\.table.*exactly one of table and query/);
  expect(msg).toMatch(/sources\.db\.incremental\.key_column.*tie-breaker/);
  expect(msg).toMatch(/sources\.db\.query.*\{limit\}/);
  expect(msg).toMatch(/sources\.db\.query.*\{last_key\}/);
  expect(msg).toMatch(/sources\.db\.incremental\.start_value/);
  expect(msg).toMatch(/sources\.db\.timestamp\.time_zone.*IANA/);
  expect(msg).toMatch(/sources\.db\.password.*at most one of password and password_file/);
  expect(
    problems(
      `${head}    driver: sqlite\n    table: { name: t }\n    incremental: { mode: append, check_column: id }\n`,
    ),
  ).toMatch(/sources\.db\.path.*reads the file named by `path`/);
  expect(
    problems(
      `${head}    driver: mysql\n    database: d\n    table: { name: t }\n    incremental: { mode: append, check_column: id }\n    layout: { type: tall }\n`,
    ),
  ).toMatch(/sources\.db\.layout/);
  // mysql2 would check an IP-addressed server's certificate against "localhost": refused, with the way out.
  const mysqlTls = (host: string, verify_hostname: boolean) =>
    sqlSchema.safeParse({
      type: 'sql',
      driver: 'mysql',
      host,
      database: 'd',
      table: { name: 't' },
      incremental: { mode: 'append', check_column: 'id' },
      tls: { ca_file: '/etc/ssl/ca.pem', verify_hostname },
    });
  expect(mysqlTls('10.0.0.5', true).error?.issues).toMatchObject([
    { path: ['host'], message: expect.stringMatching(/only against a host name/) },
  ]);
  expect(mysqlTls('10.0.0.5', false).success).toBe(true);
  expect(mysqlTls('db.plant.example', true).success).toBe(true);
});

test('sluice check passes a valid sql source and refuses one whose password file is missing', () => {
  const dir = tempDir();
  const good = join(dir, 'good.yaml');
  const pw = join(dir, 'pw');
  writeFileSync(pw, 'secret\n');
  const body = (pwFile: string): string => `gateway: { id: gw, data_dir: ${dir}/data }
sinks: { out: { type: file, path: ${dir}/out } }
sources:
  historian:
    type: sql
    driver: postgres
    database: scada
    username: reader
    password_file: ${pwFile}
    table: { name: plant.values }
    incremental: { mode: lastmodified, check_column: changed, key_column: id }
    layout: { type: wide, metrics: [temp] }
`;
  writeFileSync(good, body(pw));
  const ok = sluice(['check', good]);
  expect(ok.stderr + ok.stdout).not.toMatch(/error/i);
  expect(ok.code).toBe(0);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, body(join(dir, 'missing-pw')));
  const r = sluice(['check', bad]);
  expect(r.code).not.toBe(0);
  expect(r.stderr + r.stdout).toMatch(/sources\.historian\.password_file.*cannot read password file/);
});
