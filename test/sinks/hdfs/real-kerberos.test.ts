// The HDFS sink's own Kerberos (auth.type kerberos) against a kerberized Hadoop 3.5 cluster: SPNEGO with a
// keytab MiniKdc made, over swebhdfs with the test CA. The sink fetches its delegation token, renews it before
// it expires, fetches a new one at its max lifetime or after a cancel, and refuses a wrong keytab or an
// unknown principal with SLUICE_AUTH and a hint, readings kept in the queue. Its logs carry no token.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { noMetrics } from '../../../gateway/metrics-spec.js';
import { HdfsSink } from '../../../gateway/sinks/hdfs/sink.js';
import type { DelegationTokens } from '../../../gateway/sinks/hdfs/tokens.js';
import { readings } from '../../helpers/readings.js';
import { tempDir } from '../../helpers/tmp.js';
import { until } from '../../helpers/wait.mjs';
import { startHdfs, type HdfsKerberos, type HdfsPeer } from '../../peers/hdfs/index.js';
import { pipeline } from './helpers.js';
import {
  USER,
  expectRealExactlyOnce,
  namenodeUrls,
  ownedDir,
  realConfig,
  realFinalPrefix,
} from './real-helpers.js';

/** Short, so that renewals and the max lifetime are passed within a test; Hadoop's are a day and a week. */
const RENEW_INTERVAL_MS = 6_000;
const MAX_LIFETIME_MS = 20_000;

let hdfs: HdfsPeer;
let namenodes: string[];
let krb: HdfsKerberos;
beforeAll(async () => {
  hdfs = await startHdfs({
    variant: 'secure',
    tokenRenewIntervalMs: RENEW_INTERVAL_MS,
    tokenMaxLifetimeMs: MAX_LIFETIME_MS,
  });
  namenodes = await namenodeUrls(hdfs);
  if (hdfs.ready.kerberos === undefined) throw new Error('the secure peer named no Kerberos files');
  krb = hdfs.ready.kerberos;
});
afterAll(async () => hdfs?.close());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A debug logger whose JSON lines the test reads. */
function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

function kerberosSink(
  root: string,
  auth: Record<string, unknown>,
  log: Logger,
  over: Record<string, unknown> = {},
): HdfsSink {
  const config = realConfig(namenodes, {
    path: `${root}/out/{device}`,
    secure: true,
    auth: { type: 'kerberos', principal: krb.user, keytab: krb.userKeytab, krb5_conf: krb.krb5Conf, ...auth },
    tls: { ca_file: krb.caFile },
    max_file_readings: 100,
    roll_interval_ms: 100,
    idle_timeout_ms: 0,
    ...over,
  });
  return new HdfsSink('hdfs', config, { gatewayId: 'gw1', dataDir: tempDir(), log, metrics: noMetrics });
}

/**
 * Every failed call into the sink, seen from outside (the runner forgets an error once a retry succeeds):
 * what "never a failed write" is asserted on.
 */
function failures(sink: HdfsSink): string[] {
  const seen: string[] = [];
  const target = sink as unknown as Record<
    'connect' | 'write' | 'flush',
    (...a: unknown[]) => Promise<unknown>
  >;
  for (const op of ['connect', 'write', 'flush'] as const) {
    const real = target[op].bind(sink);
    target[op] = async (...args: unknown[]) => {
      try {
        return await real(...args);
      } catch (err) {
        seen.push(`${op}: ${(err as { code?: string }).code}: ${(err as Error).message.slice(0, 200)}`);
        throw err;
      }
    };
  }
  return seen;
}

/** No log line holds anything like a token (a long URL-safe base64 run) or names the `delegation` parameter. */
function expectNoSecrets(lines: readonly string[]): void {
  expect(lines.filter((l) => /[A-Za-z0-9_-]{64,}/.test(l) || /delegation=/.test(l))).toEqual([]);
}

const count = (lines: readonly string[], msg: string): number =>
  lines.filter((l) => (JSON.parse(l) as { msg?: string }).msg === msg).length;

/**
 * Cancels `token` as an operator would, with foreign clients: MIT kinit from the test user's keytab into a
 * cache of its own, then curl's SPNEGO (--negotiate) to the NameNode's CANCELDELEGATIONTOKEN. (The launcher's
 * token-cancel goes through Hadoop's own renewer, which cannot reach a token made over swebhdfs here.)
 */
function cancelWithCurl(token: string): void {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    KRB5_CONFIG: krb.krb5Conf,
    KRB5CCNAME: `FILE:${join(tempDir(), 'ccache')}`,
  };
  execFileSync('kinit', ['-kt', krb.userKeytab, krb.user], { env });
  const url = `${namenodes[0]}/webhdfs/v1/?op=CANCELDELEGATIONTOKEN&token=${token}`;
  const status = execFileSync(
    'curl',
    [
      '-sS',
      '--negotiate',
      '-u',
      ':',
      '--cacert',
      krb.caFile,
      '-X',
      'PUT',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      url,
    ],
    { env, encoding: 'utf8' },
  );
  expect(status).toBe('200');
}

/** A keytab (written by MIT ktutil) for a principal the KDC has never heard of. */
function ghostKeytab(principal: string): string {
  const file = join(tempDir(), 'ghost.keytab');
  execFileSync('ktutil', [], {
    input: `addent -password -p ${principal} -k 1 -e aes128-cts-hmac-sha1-96\nnot-the-password\nwkt ${file}\nquit\n`,
  });
  return file;
}

describe('auth.type kerberos: SPNEGO with a keytab', { timeout: 120_000 }, () => {
  test('the sink fetches its own token over SPNEGO and drains; files owned by the principal; no secret logged', async () => {
    await ownedDir(hdfs, '/k1');
    const { log, lines } = capture();
    const sink = kerberosSink('/k1', {}, log);
    const failed = failures(sink);
    const { queue, runner } = await pipeline(sink);
    try {
      await queue.append(readings(500));
      await until(() => queue.cursorPosition('hdfs') === 500, { timeoutMs: 60_000 });
      expect(failed).toEqual([]);
      expect(sink.health().detail ?? '').toMatch(/delegation token of sluice, expires .*max lifetime/);
    } finally {
      await runner.stop();
    }
    await expectRealExactlyOnce(hdfs, '/k1', 500);
    const dirs = await hdfs.ls('/k1/out');
    expect((await hdfs.ls(`/k1/out/${dirs[0]!.name}`)).every((f) => f.owner === USER)).toBe(true);
    expect(count(lines, 'delegation token fetched over SPNEGO')).toBe(1);
    expectNoSecrets(lines);
    await queue.close();
  });

  test('past the renew interval and the max lifetime: renewed in time, then replaced; never a failed write', async () => {
    await ownedDir(hdfs, '/k-renew');
    const { log, lines } = capture();
    const sink = kerberosSink('/k-renew', {}, log);
    const failed = failures(sink);
    const { queue, runner } = await pipeline(sink);
    try {
      const rounds = Math.ceil((MAX_LIFETIME_MS * 1.4) / 2_000);
      for (let i = 0; i < rounds; i++) {
        await queue.append(readings(20, i * 20));
        await until(() => queue.cursorPosition('hdfs') === (i + 1) * 20, { timeoutMs: 30_000 });
        await sleep(2_000);
      }
      expect(failed).toEqual([]);
      // Each token lives for MAX_LIFETIME_MS: at least one was replaced, and each was renewed along the way.
      expect(count(lines, 'delegation token fetched over SPNEGO')).toBeGreaterThanOrEqual(2);
      expect(count(lines, 'delegation token renewed')).toBeGreaterThan(
        count(lines, 'delegation token fetched over SPNEGO'),
      );
      await expectRealExactlyOnce(hdfs, '/k-renew', rounds * 20);
    } finally {
      await runner.stop();
    }
    expectNoSecrets(lines);
    await queue.close();
  });

  test('its token cancelled behind its back (curl --negotiate): the sink fetches a new one, nothing lost or doubled', async () => {
    await ownedDir(hdfs, '/k-cancel');
    const { log, lines } = capture();
    const sink = kerberosSink('/k-cancel', {}, log);
    const failed = failures(sink);
    const { queue, runner } = await pipeline(sink);
    try {
      await queue.append(readings(200));
      await until(() => queue.cursorPosition('hdfs') === 200, { timeoutMs: 60_000 });
      const tokens = (sink as unknown as { tokens: DelegationTokens }).tokens;
      cancelWithCurl(await tokens.current());
      await queue.append(readings(200, 200));
      await until(() => queue.cursorPosition('hdfs') === 400, { timeoutMs: 60_000 });
      expect(runner.status().health.state).toBe('healthy');
      expect(count(lines, 'delegation token fetched over SPNEGO')).toBe(2);
      // The one refusal the cancel causes, if the sink's next request met it before a renewal did.
      expect(failed.length).toBeLessThanOrEqual(1);
      for (const f of failed) expect(f).toMatch(/SLUICE_AUTH: .*token/i);
    } finally {
      await runner.stop();
    }
    await expectRealExactlyOnce(hdfs, '/k-cancel', 400);
    expectNoSecrets(lines);
    await queue.close();
  });

  for (const wrong of ['another principal’s keytab', 'an unknown principal'] as const) {
    test(`${wrong}: SLUICE_AUTH with a hint naming keytab and principal, nothing acked, readings kept`, async () => {
      const root = wrong.startsWith('another') ? '/k-wrong' : '/k-ghost';
      await ownedDir(hdfs, root);
      const ghost = `ghost@${krb.realm}`;
      const auth = wrong.startsWith('another')
        ? { keytab: krb.serviceKeytab } // hdfs/ and HTTP/ keys, none for sluice@
        : { principal: ghost, keytab: ghostKeytab(ghost) };
      const { log, lines } = capture();
      const sink = kerberosSink(root, auth, log);
      const { queue, runner } = await pipeline(sink);
      try {
        await queue.append(readings(50));
        await until(() => runner.status().consecutiveFailures >= 2, { timeoutMs: 30_000 });
        expect(runner.status().lastError).toMatchObject({ code: 'SLUICE_AUTH', retriable: false });
        expect(sink.health().state).toBe('unhealthy');
        const err = await sink.connect().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: 'SLUICE_AUTH' });
        const { hint, message } = err as { hint: string; message: string };
        console.info(`hdfs kerberos, ${wrong}: ${message} (hint: ${hint})`);
        expect(hint).toMatch(/auth\.principal|keytab/);
        expect(message).toContain(wrong.startsWith('another') ? krb.user : ghost);
        expect(queue.cursorPosition('hdfs')).toBe(0);
        expect(await realFinalPrefix(hdfs, root)).toBe(0);
      } finally {
        await runner.stop();
      }
      expectNoSecrets(lines);
      await queue.close();
    });
  }
});

/** A token of the test user fetched by the launcher over Kerberized RPC, written where the sink reads it. */
async function tokenInto(file: string): Promise<string> {
  const token = String((await hdfs.must('token', USER)).token);
  writeFileSync(file, `${token}\n`);
  return token;
}

describe('auth.type delegation_token: a token file an operator keeps', { timeout: 120_000 }, () => {
  function fileSink(root: string, tokenFile: string): HdfsSink {
    return kerberosSink(root, {}, capture().log, {
      auth: { type: 'delegation_token', token_file: tokenFile },
    });
  }

  test('a rotated token file is read at the next request: the old token cancelled, never a failed write', async () => {
    await ownedDir(hdfs, '/f-rotate');
    const tokenFile = join(tempDir(), 'token');
    const old = await tokenInto(tokenFile);
    const sink = fileSink('/f-rotate', tokenFile);
    const failed = failures(sink);
    const { queue, runner } = await pipeline(sink);
    try {
      await queue.append(readings(100));
      await until(() => queue.cursorPosition('hdfs') === 100, { timeoutMs: 60_000 });
      await tokenInto(tokenFile);
      await hdfs.must('token-cancel', old);
      await queue.append(readings(100, 100));
      await until(() => queue.cursorPosition('hdfs') === 200, { timeoutMs: 60_000 });
      expect(failed).toEqual([]);
    } finally {
      await runner.stop();
    }
    await expectRealExactlyOnce(hdfs, '/f-rotate', 200);
    await queue.close();
  });

  test('renewed by the operator up to its max lifetime: then SLUICE_AUTH saying to rotate the file; rotated, it goes on', async () => {
    await ownedDir(hdfs, '/f-max');
    const tokenFile = join(tempDir(), 'token');
    const token = await tokenInto(tokenFile);
    const sink = fileSink('/f-max', tokenFile);
    const failed = failures(sink);
    const { queue, runner } = await pipeline(sink);
    try {
      await queue.append(readings(100));
      await until(() => queue.cursorPosition('hdfs') === 100, { timeoutMs: 60_000 });
      // The operator's cron renews it; a renewal cannot pass the max lifetime, so the expiry stops moving.
      let expiry = 0;
      for (;;) {
        const next = Number((await hdfs.must('token-renew', token)).expiry);
        if (next === expiry) break;
        expiry = next;
        await sleep(RENEW_INTERVAL_MS / 3);
      }
      expect(failed).toEqual([]);
      await sleep(Math.max(0, expiry - Date.now()) + 500);
      await queue.append(readings(100, 100));
      await until(() => runner.status().consecutiveFailures >= 2, { timeoutMs: 30_000 });
      const last = runner.status().lastError;
      expect(last).toMatchObject({ code: 'SLUICE_AUTH' });
      expect(last?.message).toMatch(/reached its max lifetime/);
      expect(sink.health()).toMatchObject({ state: 'unhealthy', lastError: { code: 'SLUICE_AUTH' } });
      expect(queue.cursorPosition('hdfs')).toBeLessThanOrEqual(await realFinalPrefix(hdfs, '/f-max'));
      await tokenInto(tokenFile);
      await until(() => queue.cursorPosition('hdfs') === 200, { timeoutMs: 60_000 });
      expect(runner.status().health.state).toBe('healthy');
    } finally {
      await runner.stop();
    }
    await expectRealExactlyOnce(hdfs, '/f-max', 200);
    await queue.close();
  });
});
