// The HDFS sink against a kerberized Hadoop 3.5 cluster (MiniKdc, SPNEGO on every HTTP endpoint, HTTPS only
// with a test CA): its delegation-token path with tokens the test fetches from the NameNode over Kerberos.
// A token that expired (not renewed within the renew interval) or was cancelled stops the sink with
// SLUICE_AUTH and a hint, health unhealthy, nothing acked; a fresh token in token_file lets it go on, and
// every reading lands exactly once. A token renewed in time keeps working past the interval.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebHdfsError } from '../../../gateway/sinks/hdfs/classify.js';
import { readings } from '../../helpers/readings.js';
import { tempDir } from '../../helpers/tmp.js';
import { startHdfs, type HdfsPeer } from '../../peers/hdfs/index.js';
import { until } from '../../helpers/wait.mjs';
import { pipeline } from './helpers.js';
import { USER, expectRealExactlyOnce, namenodeUrls, realFinalPrefix, realSink } from './real-helpers.js';

/** Short, so that expiry is seen within a test; Hadoop's default is a day. */
const RENEW_INTERVAL_MS = 12_000;

let hdfs: HdfsPeer;
let namenodes: string[];
let caFile: string;
beforeAll(async () => {
  hdfs = await startHdfs({ variant: 'secure', tokenRenewIntervalMs: RENEW_INTERVAL_MS });
  namenodes = await namenodeUrls(hdfs);
  caFile = hdfs.ready.kerberos?.caFile ?? '';
});
afterAll(async () => hdfs?.close());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A token owned by the test user, fetched from the kerberized NameNode, written where the sink reads it. */
async function freshToken(file: string): Promise<string> {
  const token = String((await hdfs.must('token', USER)).token);
  writeFileSync(file, `${token}\n`);
  return token;
}

async function securedDir(dir: string): Promise<void> {
  await hdfs.must('mkdir', dir, '755');
  await hdfs.must('chown', dir, USER, 'supergroup');
}

function secureSink(root: string, tokenFile: string, over: Record<string, unknown> = {}) {
  return realSink(namenodes, {
    path: `${root}/out/{device}`,
    secure: true,
    auth: { type: 'delegation_token', token_file: tokenFile },
    tls: { ca_file: caFile },
    max_file_readings: 100,
    roll_interval_ms: 100,
    idle_timeout_ms: 0,
    ...over,
  });
}

describe('refusals a kerberized cluster gives before any file is touched', () => {
  test('no token: 401 Negotiate is SLUICE_AUTH with the delegation-token hint', async () => {
    const sink = realSink(namenodes, { path: '/x', tls: { ca_file: caFile } });
    const err = await sink.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'SLUICE_AUTH', retriable: false });
    expect((err as WebHdfsError).message).toMatch(
      /401 authentication required \(WWW-Authenticate: Negotiate\)/,
    );
    expect((err as WebHdfsError).hint).toMatch(/delegation_token/);
    await sink.close();
  });

  test('swebhdfs without the test CA: a clear TLS error naming tls.ca_file', async () => {
    const tokenFile = join(tempDir(), 'token');
    await freshToken(tokenFile);
    const sink = realSink(namenodes, {
      path: '/x',
      secure: true,
      auth: { type: 'delegation_token', token_file: tokenFile },
    });
    const err = await sink.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'SLUICE_AUTH', retriable: false });
    expect((err as WebHdfsError).hint).toMatch(/tls\.ca_file/);
    await sink.close();
  });
});

describe('delegation tokens on a kerberized cluster over swebhdfs', { timeout: 120_000 }, () => {
  test('a token fetched over Kerberos: the sink drains through swebhdfs, files owned by the token owner', async () => {
    await securedDir('/s1');
    const tokenFile = join(tempDir(), 'token');
    await freshToken(tokenFile);
    const { queue, runner } = await pipeline(secureSink('/s1', tokenFile));
    try {
      await queue.append(readings(700));
      await until(() => queue.cursorPosition('hdfs') === 700, { timeoutMs: 60_000 });
      expect(runner.status().health.state).toBe('healthy');
    } finally {
      await runner.stop();
    }
    await expectRealExactlyOnce(hdfs, '/s1', 700);
    const dirs = await hdfs.ls('/s1/out');
    expect((await hdfs.ls(`/s1/out/${dirs[0]!.name}`)).every((f) => f.owner === USER)).toBe(true);
    await queue.close();
  });

  for (const how of ['cancelled', 'expired'] as const) {
    test(`${how === 'expired' ? 'an' : 'a'} ${how} token: SLUICE_AUTH with a hint, unhealthy, nothing acked; a fresh token goes on, exactly once`, async () => {
      const root = `/s-${how}`;
      await securedDir(root);
      const tokenFile = join(tempDir(), 'token');
      const token = await freshToken(tokenFile);
      const sink = secureSink(root, tokenFile);
      const { queue, runner } = await pipeline(sink);
      try {
        await queue.append(readings(300));
        await until(() => queue.cursorPosition('hdfs') === 300, { timeoutMs: 60_000 });
        if (how === 'cancelled') await hdfs.must('token-cancel', token);
        else await sleep(RENEW_INTERVAL_MS + 1_000);
        await queue.append(readings(300, 300));
        await until(() => runner.status().consecutiveFailures >= 2, { timeoutMs: 30_000 });
        const last = runner.status().lastError;
        expect(last).toMatchObject({ code: 'SLUICE_AUTH', retriable: false });
        expect(sink.health().state).toBe('unhealthy');
        // The sink's own error (the runner keeps code and message) carries the hint an operator acts on:
        // a second sink on the same token fails at its first request, before it could touch any file.
        const probe = secureSink(root, tokenFile);
        const err = await probe.connect().then(
          () => undefined,
          (e: unknown) => e,
        );
        await probe.close();
        expect(err).toBeInstanceOf(WebHdfsError);
        expect((err as WebHdfsError).hint).toMatch(/delegation token.*(expired|cancelled)/);
        console.info(`hdfs secure, ${how} token: ${last?.message.slice(0, 300)}`);
        expect(queue.cursorPosition('hdfs')).toBeLessThanOrEqual(await realFinalPrefix(hdfs, root));
        await freshToken(tokenFile);
        await until(() => queue.cursorPosition('hdfs') === 600, { timeoutMs: 60_000 });
        expect(runner.status().health.state).toBe('healthy');
      } finally {
        await runner.stop();
      }
      await expectRealExactlyOnce(hdfs, root, 600);
      await queue.close();
    });
  }

  test('a token renewed within the interval keeps working past it', async () => {
    await securedDir('/s-renewed');
    const tokenFile = join(tempDir(), 'token');
    const token = await freshToken(tokenFile);
    const { queue, runner } = await pipeline(secureSink('/s-renewed', tokenFile));
    try {
      await queue.append(readings(100));
      await until(() => queue.cursorPosition('hdfs') === 100, { timeoutMs: 60_000 });
      for (let t = 0; t < RENEW_INTERVAL_MS + 4_000; t += RENEW_INTERVAL_MS / 3) {
        await hdfs.must('token-renew', token);
        await sleep(RENEW_INTERVAL_MS / 3);
      }
      await queue.append(readings(100, 100));
      await until(() => queue.cursorPosition('hdfs') === 200, { timeoutMs: 60_000 });
      expect(runner.status().consecutiveFailures).toBe(0);
    } finally {
      await runner.stop();
    }
    await expectRealExactlyOnce(hdfs, '/s-renewed', 200);
    await queue.close();
  });
});
