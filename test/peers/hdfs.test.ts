// The real HDFS peer itself, before any Sluice test relies on it: a WebHDFS create with plain fetch (the
// NameNode's 307 to a DataNode, then the body) reads back through Hadoop's FileSystem client; safe mode,
// quotas and permissions refuse with Hadoop's own exceptions; a DataNode and the NameNode come back after a
// kill or restart; in HA, WebHDFS answers on the new active after a failover and refuses on the standby;
// kerberized, swebhdfs refuses the anonymous, admits SPNEGO and a delegation token.
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startHdfs, type HdfsPeer } from './hdfs/index.js';

interface WebHdfsResult {
  /** The status of the last step: 201 when created. */
  readonly status: number;
  /** Hadoop's RemoteException.exception (e.g. SafeModeException) when refused. */
  readonly exception?: string;
  /** Where the NameNode sent the body, when it got that far. */
  readonly datanode?: string;
}

async function remoteException(r: Response): Promise<string | undefined> {
  const text = await r.text();
  if (r.ok) return undefined;
  try {
    const body = JSON.parse(text) as { RemoteException?: { exception?: string } };
    return body.RemoteException?.exception ?? text;
  } catch {
    // Not Hadoop's JSON error (a Jetty page, say): the text itself is the best account of it.
    return text;
  }
}

/**
 * One request with node:http(s), which skips an informational 1xx it did not ask for. Node's fetch
 * (undici 6) fails with "bad response" on the unsolicited 100 Continue a DataNode sends before its answer
 * (see the test below), so the body step cannot use fetch, nor can anything over HTTPS with the test CA
 * (fetch takes no CA without the undici package); the sink's WebHDFS client is on node:http(s) too.
 */
function send(method: string, url: string, body = '', ca?: string): Promise<Response> {
  const go = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const headers = { 'content-length': Buffer.byteLength(body) };
    const req = go(url, { method, headers, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: h }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Credentials {
  /** Simple auth's user.name (default root, the superuser). */
  readonly user?: string;
  /** A delegation token (secure variant), in place of user.name. */
  readonly delegation?: string;
  /** PEM of the CA for https:// (secure variant). */
  readonly ca?: string;
}

function authQuery(c: Credentials): string {
  return c.delegation ? `delegation=${c.delegation}` : `user.name=${c.user ?? 'root'}`;
}

/** WebHDFS CREATE as the spec's two steps: PUT to the NameNode, which redirects; PUT the body there. */
async function webCreate(
  base: string,
  path: string,
  body: string,
  c: Credentials = {},
): Promise<WebHdfsResult> {
  const url = `${base}${path}?op=CREATE&overwrite=true&${authQuery(c)}`;
  const first = c.ca
    ? await send('PUT', url, '', c.ca)
    : await fetch(url, { method: 'PUT', redirect: 'manual' });
  if (first.status !== 307) return { status: first.status, exception: await remoteException(first) };
  await first.arrayBuffer();
  const location = first.headers.get('location');
  if (location === null) throw new Error(`307 without Location from ${url}`);
  const second = await send('PUT', location, body, c.ca);
  return {
    status: second.status,
    exception: await remoteException(second),
    datanode: new URL(location).host,
  };
}

/** The status lines a DataNode answers to a PUT of `body` (no Expect header sent), over a raw socket. */
function statusLinesOfPut(url: string, body: string): Promise<string[]> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname, () => {
      socket.write(
        `PUT ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    let got = '';
    socket.on('data', (b: Buffer) => (got += b.toString('latin1')));
    socket.on('error', reject);
    socket.on('end', () => resolve(got.split('\r\n').filter((l) => l.startsWith('HTTP/1.1 '))));
  });
}

async function webStatus(base: string, path: string): Promise<{ status: number; exception?: string }> {
  const r = await fetch(`${base}${path}?op=GETFILESTATUS&user.name=root`);
  return { status: r.status, exception: await remoteException(r) };
}

describe('Apache Hadoop HDFS peer, simple auth with permissions on', () => {
  let hdfs: HdfsPeer;
  let base: string;
  beforeAll(async () => {
    hdfs = await startHdfs({ variant: 'simple' });
    base = await hdfs.webhdfs();
    await hdfs.must('mkdir', '/w', '755');
  });
  afterAll(async () => hdfs?.close());

  test('every address is loopback, and the cluster has 3 DataNodes', () => {
    const addrs = [
      ...hdfs.ready.namenodes.flatMap((n) => [n.rpc, n.http]),
      ...hdfs.ready.datanodes.flatMap((d) => [d.name, d.http, d.ipc]),
    ];
    expect(addrs.every((a) => a !== null && a.startsWith('127.0.0.1:'))).toBe(true);
    expect(hdfs.ready.datanodes).toHaveLength(3);
  });

  test('a WebHDFS create (redirect to a DataNode, 2 steps) reads back through FileSystem', async () => {
    const body = 'line 1\nline 2 \u00e9\n';
    const r = await webCreate(base, '/w/a.jsonl', body);
    expect(r).toMatchObject({ status: 201, exception: undefined });
    expect(hdfs.ready.datanodes.map((d) => d.http)).toContain(r.datanode);
    expect((await hdfs.read('/w/a.jsonl')).toString('utf8')).toBe(body);
    expect(await hdfs.ls('/w')).toMatchObject([
      { name: 'a.jsonl', type: 'FILE', length: Buffer.byteLength(body) },
    ]);
  });

  test('a DataNode answers a PUT with a 100 Continue nobody asked for (why the body step is not fetch)', async () => {
    const first = await fetch(`${base}/w/continue?op=CREATE&overwrite=true&user.name=root`, {
      method: 'PUT',
      redirect: 'manual',
    });
    await first.arrayBuffer();
    const location = first.headers.get('location') ?? '';
    expect(await statusLinesOfPut(location, 'x')).toEqual(['HTTP/1.1 100 Continue', 'HTTP/1.1 201 Created']);
    expect((await hdfs.read('/w/continue')).toString()).toBe('x');
  });

  test('permissions: another user cannot create in a 755 directory until it is chowned to them', async () => {
    await hdfs.must('mkdir', '/p', '755');
    expect(await webCreate(base, '/p/x', 'x', { user: 'alice' })).toMatchObject({
      status: 403,
      exception: 'AccessControlException',
    });
    await hdfs.must('chown', '/p', 'alice', 'supergroup');
    expect(await webCreate(base, '/p/x', 'x', { user: 'alice' })).toMatchObject({ status: 201 });
    expect(await hdfs.ls('/p')).toMatchObject([{ name: 'x', owner: 'alice' }]);
  });

  test('safe mode makes a create fail with SafeModeException, and leaving it lets it through', async () => {
    expect(await hdfs.must('safemode', 'enter')).toMatchObject({ safemode: true });
    try {
      expect(await webCreate(base, '/w/safe', 'x')).toMatchObject({
        status: 403,
        exception: 'SafeModeException',
      });
    } finally {
      await hdfs.must('safemode', 'leave');
    }
    expect(await webCreate(base, '/w/safe', 'x')).toMatchObject({ status: 201 });
  });

  test('a space quota refuses the body with DSQuotaExceededException, a namespace quota the create', async () => {
    // 1 MiB blocks, replication 3: a file's first block charges 3 MiB against the quota.
    await hdfs.must('mkdir', '/q', '777');
    await hdfs.must('quota', '/q', 'keep', String(2 * 1024 * 1024));
    expect(await webCreate(base, '/q/big', 'some bytes')).toMatchObject({
      exception: 'DSQuotaExceededException',
    });
    await hdfs.must('quota', '/q', 'keep', 'clear');
    await hdfs.must('mkdir', '/n', '777');
    // The directory itself counts: 2 names = the directory and one file.
    await hdfs.must('quota', '/n', '2', 'keep');
    expect(await webCreate(base, '/n/one', '1')).toMatchObject({ status: 201 });
    expect(await webCreate(base, '/n/two', '2')).toMatchObject({ exception: 'NSQuotaExceededException' });
  });

  test('a killed DataNode: writes go on to the other two; restarted, it rejoins on its ports', async () => {
    // Marked dead at once: else the NameNode may redirect to it until its heartbeats are missed.
    const killed = (await hdfs.must('dn-kill', '0', 'dead')).datanode as string;
    expect((await hdfs.state()).datanodes.map((d) => d.name)).not.toContain(killed);
    expect(await webCreate(base, '/w/two-dns', 'still writable')).toMatchObject({ status: 201 });
    expect((await hdfs.read('/w/two-dns')).toString()).toBe('still writable');
    await hdfs.must('dn-restart', killed);
    const after = await hdfs.state();
    expect(after.datanodes.map((d) => d.name)).toContain(killed);
    expect(after.datanodes).toHaveLength(3);
  });

  test('a restarted NameNode answers WebHDFS on the same port with the files it had', async () => {
    await hdfs.must('write', '/before-restart', 'text', 'kept');
    expect(await hdfs.must('nn-restart', '0')).toMatchObject({ safemode: false });
    expect(await hdfs.webhdfs()).toBe(base);
    expect(await webStatus(base, '/before-restart')).toMatchObject({ status: 200 });
    expect((await hdfs.read('/before-restart')).toString()).toBe('kept');
    // The first write after the restart may fail at the DataNode: its cached RPC connection to the old
    // NameNode process answers EOFException (403), and a create is not retried for you. A client starts
    // over from step 1, as the sink must; the retry goes through.
    const refusals: WebHdfsResult[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await webCreate(base, '/after-restart', 'ok');
      if (r.status === 201) break;
      refusals.push(r);
    }
    expect(refusals.length).toBeLessThan(3);
    for (const r of refusals) expect(r).toMatchObject({ status: 403, exception: 'EOFException' });
    expect((await hdfs.read('/after-restart')).toString()).toBe('ok');
  });
});

describe('Apache Hadoop HDFS peer, HA with two NameNodes', () => {
  let hdfs: HdfsPeer;
  beforeAll(async () => {
    hdfs = await startHdfs({ variant: 'ha' });
  });
  afterAll(async () => hdfs?.close());

  test('after a failover WebHDFS answers on the new active and the standby refuses', async () => {
    const [nn1, nn2] = hdfs.ready.namenodes;
    expect([nn1?.state, nn2?.state]).toEqual(['active', 'standby']);
    const first = await hdfs.webhdfs(0);
    const second = await hdfs.webhdfs(1);
    expect(await webCreate(first, '/before', 'written on nn1')).toMatchObject({ status: 201 });
    expect(await webCreate(second, '/refused', 'x')).toMatchObject({
      status: 403,
      exception: 'StandbyException',
    });

    const after = (await hdfs.must('failover')) as unknown as { namenodes: { state: string }[] };
    expect(after.namenodes.map((n) => n.state)).toEqual(['standby', 'active']);
    expect(await hdfs.webhdfs()).toBe(second);
    expect(await webStatus(second, '/before')).toMatchObject({ status: 200 });
    expect(await webCreate(second, '/after', 'written on nn2')).toMatchObject({ status: 201 });
    expect(await webStatus(first, '/after')).toMatchObject({ status: 403, exception: 'StandbyException' });
    // Hadoop's failover client finds both files on whichever NameNode is active.
    expect((await hdfs.read('/before')).toString()).toBe('written on nn1');
    expect((await hdfs.read('/after')).toString()).toBe('written on nn2');
  });

  test('close() leaves no JVM behind', async () => {
    const pid = hdfs.pid ?? 0;
    expect(pid).toBeGreaterThan(0);
    await hdfs.close();
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });
});

describe('Apache Hadoop HDFS peer, secure: Kerberos (MiniKdc), SPNEGO, HTTPS only', () => {
  let hdfs: HdfsPeer;
  let base: string;
  let ca: string;
  beforeAll(async () => {
    hdfs = await startHdfs({ variant: 'secure' });
    base = await hdfs.webhdfs();
    ca = await readFile(hdfs.ready.kerberos?.caFile ?? '', 'utf8');
    await hdfs.must('mkdir', '/s', '777');
  });
  afterAll(async () => hdfs?.close());

  test('only HTTPS endpoints, with a certificate from the test CA naming 127.0.0.1', async () => {
    expect(base).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/webhdfs\/v1$/);
    expect(hdfs.ready.namenodes[0]?.http).toBeNull();
    expect(hdfs.ready.datanodes.every((d) => d.http === null && d.https !== null)).toBe(true);
    // A TLS handshake that verifies the name and the chain: any HTTP status at all proves it.
    expect((await send('GET', `${base}/?op=GETFILESTATUS`, '', ca)).status).toBeGreaterThan(0);
  });

  test('without credentials swebhdfs answers 401 Negotiate; user.name alone is not trusted', async () => {
    const anonymous = await send('GET', `${base}/s?op=GETFILESTATUS`, '', ca);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Negotiate');
    const claimed = await send('GET', `${base}/s?op=GETFILESTATUS&user.name=hdfs`, '', ca);
    expect(claimed.status).toBe(401);
  });

  test("SPNEGO with the test user's Kerberos ticket is admitted (Hadoop's own HTTP client)", async () => {
    expect(await hdfs.must('spnego', `${base}/?op=GETFILESTATUS`)).toMatchObject({ status: 200 });
  });

  test('a delegation token fetched from the kerberized NameNode writes through swebhdfs', async () => {
    const token = String((await hdfs.must('token', 'sluice')).token);
    expect(token.length).toBeGreaterThan(20);
    const r = await webCreate(base, '/s/by-token.jsonl', '{"a":1}\n', { delegation: token, ca });
    expect(r).toMatchObject({ status: 201, exception: undefined });
    expect(hdfs.ready.datanodes.map((d) => d.https)).toContain(r.datanode);
    expect((await hdfs.read('/s/by-token.jsonl')).toString()).toBe('{"a":1}\n');
    expect(await hdfs.ls('/s')).toMatchObject([{ name: 'by-token.jsonl', owner: 'sluice' }]);
  });

  test('a renewed token lives on; a cancelled one is refused by swebhdfs', async () => {
    const token = String((await hdfs.must('token', 'sluice')).token);
    const renewed = await hdfs.must('token-renew', token);
    expect(Number(renewed.expiry)).toBeGreaterThan(Date.now());
    const status = (t: string) => send('GET', `${base}/?op=GETFILESTATUS&delegation=${t}`, '', ca);
    expect((await status(token)).status).toBe(200);
    await hdfs.must('token-cancel', token);
    const refused = await status(token);
    expect(refused.status).toBe(403);
    // Hadoop 3.5 wraps the InvalidToken in a SecurityException ("... can't be found in cache").
    expect(await refused.text()).toMatch(/SecurityException.*token/i);
  });
});
