// The HDFS sink against the WebHDFS emulator: the shared conformance suite, the file layout (templates,
// names, formats), the recovery of what a crash leaves in the state directory, auth and config checks, and
// the real Gateway draining a simulator into time-bucketed directories.
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, test } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.js';
import { silentLogger } from '../../../gateway/observe/log.js';
import type { QueuedReading } from '../../../gateway/reading.js';
import { Gateway } from '../../../gateway/runtime/gateway.js';
import { schema } from '../../../gateway/sinks/hdfs/schema.js';
import { escapeSegment, expandDir, parseTemplate } from '../../../gateway/sinks/hdfs/paths.js';
import { reading } from '../../helpers/readings.js';
import { makeTestCerts } from '../../helpers/certs.js';
import { tempDir } from '../../helpers/tmp.js';
import { until } from '../../helpers/wait.mjs';
import type { WebHdfs } from '../../peers/webhdfs/index.js';
import { sinkConformance } from '../conformance.js';
import { USER, cluster, expectExactlyOnce, finalFiles, makeSink, walk } from './helpers.js';

const clusters: WebHdfs[] = [];
async function emulator(options: Parameters<typeof cluster>[0] = {}): Promise<WebHdfs> {
  const h = await cluster(options);
  clusters.push(h);
  return h;
}
afterAll(async () => {
  for (const h of clusters) expect(h.internalErrors()).toEqual([]);
  await Promise.all(clusters.map((h) => h.close()));
});

const q = (seq: number, over: Partial<QueuedReading> = {}): QueuedReading => ({
  ...reading(seq),
  seq,
  ...over,
});

sinkConformance('hdfs', async () => {
  const hdfs = await emulator();
  return {
    exactlyOnce: true,
    create: () => makeSink(hdfs, { max_file_readings: 137, roll_interval_ms: 100, idle_timeout_ms: 0 }),
    delivered: () =>
      Promise.resolve(
        finalFiles(hdfs).flatMap((f) =>
          f.records.map((r) => ({ seq: r.seq, id: r.id, device: r.device, value: r.value })),
        ),
      ),
    breakUpstream: () => hdfs.faults.namenodeDown(),
    healUpstream: () => hdfs.faults.namenodeUp(),
  };
});

describe('files', () => {
  test('templates expand UTC buckets and escaped fields; final names hold the gateway and the range', () => {
    const t = parseTemplate('/data/sensors/{yyyy}/{MM}/{dd}/{HH}/dt={device}-{metric}/');
    expect(t.staticPrefix).toBe('/data/sensors');
    const r = reading(1, { device: 'a/b c', metric: '_x' });
    expect(expandDir(t, r, 'gw1', Date.UTC(2024, 0, 2, 3, 4))).toBe(
      '/data/sensors/2024/01/02/03/dt=a%2Fb%20c-%5Fx',
    );
    expect(escapeSegment('..')).toBe('%2E.');
    expect(escapeSegment('')).toBe('-');
  });

  test('config: unknown placeholders, relative paths and pseudo auth on a secure cluster are refused', () => {
    const base = { type: 'hdfs', namenodes: ['http://nn:9870'], auth: { type: 'pseudo', user: 'u' } };
    expect(schema.safeParse({ ...base, path: 'data/{year}' }).error?.issues.map((i) => i.message)).toEqual([
      'must be an absolute HDFS path (start with /)',
      'unknown placeholder {year}; known: {yyyy}, {MM}, {dd}, {HH}, {mm}, {device}, {metric}, {source}, {gateway}',
    ]);
    const secure = schema.safeParse({ ...base, path: '/d', secure: true });
    expect(secure.error?.issues[0]).toMatchObject({ path: ['auth', 'type'] });
    expect(
      schema.safeParse({ ...base, path: '/d', secure: true, auth: { type: 'delegation_token', token: 't' } })
        .success,
    ).toBe(true);
    expect(() =>
      validateConfig({ gateway: { id: 'g' }, sinks: { h: { ...base, path: '/d', secure: true } } }),
    ).toThrow(/sinks\.h\.auth\.type: a secure cluster refuses pseudo auth/);
  });

  test('one batch over several directories: one file per directory, all final together, acked after', async () => {
    const hdfs = await emulator();
    const sink = makeSink(hdfs, { path: '/data/t/{device}', max_file_readings: 3, idle_timeout_ms: 0 });
    await sink.connect();
    // dev-1 reaches 3 readings at seq 15: the whole generation (7 directories) rolls there.
    const p = await sink.write(Array.from({ length: 20 }, (_, i) => q(i + 1)));
    expect(p.committedThrough).toBe(15);
    expect(walk(hdfs, '/data/t')).toHaveLength(7);
    expect(await sink.flush('shutdown')).toEqual({ committedThrough: 20, bytes: expect.any(Number) });
    const files = expectExactlyOnce(hdfs, 20, '/data/t');
    expect(files.map((f) => f.path)).toContain(
      '/data/t/dev-1/sluice-gw1-0000000000000001-0000000000000015.jsonl',
    );
    // Staging is empty and only the newest manifest is kept, as the high-water mark.
    expect(hdfs.fs.list('/data/t/_sluice/gw1/hdfs').sort()).toEqual([
      'commit-0000000000000016-0000000000000020.json',
      'staging',
    ]);
    expect(hdfs.fs.list('/data/t/_sluice/gw1/hdfs/staging')).toEqual([]);
    await sink.close();
  });

  test('CSV with gzip: a header, RFC 4180 quoting, several gzip members read as one file', async () => {
    const hdfs = await emulator();
    const sink = makeSink(hdfs, {
      path: '/data/csv',
      format: 'csv',
      compression: 'gzip',
      upload_buffer_bytes: 200,
    });
    await sink.connect();
    await sink.write([q(1, { value: { lat: 1, lon: 2 } }), q(2, { device: 'a,"b"' }), q(3), q(4)]);
    await sink.flush('shutdown');
    const [path] = walk(hdfs, '/data/csv');
    expect(path).toMatch(/sluice-gw1-0000000000000001-0000000000000004\.csv\.gz$/);
    const text = gunzipSync(hdfs.fs.read(path!)!).toString();
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('id,gateway,seq,ts,device,metric,value,unit,source,tags');
    expect(lines[1]).toBe('gw1:1,gw1,1,1700000000001,dev-1,temperature,"{""lat"":1,""lon"":2}",C,test,');
    expect(lines[2]).toContain(',"a,""b""",');
    expect(lines).toHaveLength(5);
    await sink.close();
  });
});

/** A raw WebHDFS metadata call as the sink user, to set up what a crash leaves behind. */
async function rawOp(hdfs: WebHdfs, method: string, path: string, op: string, params = ''): Promise<unknown> {
  const res = await fetch(`${hdfs.namenodeUrl}/webhdfs/v1${path}?op=${op}&user.name=${USER}${params}`, {
    method,
  });
  expect(res.status).toBe(200);
  return res.json();
}

describe('recovery', () => {
  test('a generation committed before a crash is completed; uncommitted attempts are removed and rewritten', async () => {
    const hdfs = await emulator();
    const over = { path: '/data/r/{device}', max_file_readings: 2, idle_timeout_ms: 0 };
    const first = makeSink(hdfs, over);
    await first.connect();
    expect((await first.write(Array.from({ length: 8 }, (_, i) => q(i + 1)))).committedThrough).toBe(8);
    await first.close();
    // Rewind HDFS to "manifest renamed (the commit point), only some files placed": move all but one
    // final file back to its staged name.
    const root = '/data/r/_sluice/gw1/hdfs';
    const [manifestName] = hdfs.fs.list(root).filter((n) => n.startsWith('commit-'));
    const manifest = JSON.parse(hdfs.fs.read(`${root}/${manifestName!}`)!.toString()) as {
      staging: string;
      files: Array<{ staged: string; final: string }>;
    };
    expect(manifest.files.length).toBeGreaterThan(1);
    await rawOp(hdfs, 'PUT', manifest.staging, 'MKDIRS');
    for (const f of manifest.files.slice(1)) {
      expect(await rawOp(hdfs, 'PUT', f.final, 'RENAME', `&destination=${f.staged}`)).toEqual({
        boolean: true,
      });
    }
    // And an attempt at the next generation that never committed: a torn staged file, a temp manifest.
    hdfs.fs.writeFile(`${root}/staging/0000000000000009-deadbeef/_00000.jsonl.tmp`, '{"torn":', {
      owner: USER,
    });
    hdfs.fs.writeFile(`${root}/_commit-0000000000000009-deadbeef.json.tmp`, '{', { owner: USER });
    expect(finalFiles(hdfs, '/data/r')).toHaveLength(1);

    const second = makeSink(hdfs, over);
    await second.connect();
    expect(finalFiles(hdfs, '/data/r')).toHaveLength(manifest.files.length);
    expect(hdfs.fs.list(root).sort()).toEqual([manifestName, 'staging']);
    expect(hdfs.fs.list(`${root}/staging`)).toEqual([]);
    // The queue was never acked past 0: 1..8 come again and are skipped, 9..10 are new.
    expect(await second.write(Array.from({ length: 10 }, (_, i) => q(i + 1)))).toEqual({
      committedThrough: 8,
    });
    expect(await second.flush('shutdown')).toEqual({ committedThrough: 10, bytes: expect.any(Number) });
    expectExactlyOnce(hdfs, 10, '/data/r');
    await second.close();
  });

  test('a cluster that wants a token: 401 HTML is an auth error; a delegation token from a file works', async () => {
    const hdfs = await emulator({ secure: true });
    const plain = makeSink(hdfs, { path: '/data/s' });
    const err = await plain.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'SLUICE_AUTH', retriable: false });
    expect(String((err as Error).message)).toMatch(
      /401 authentication required \(WWW-Authenticate: Negotiate\)/,
    );
    const file = `${tempDir()}/token`;
    writeFileSync(file, `${hdfs.issueDelegationToken(USER)}\n`);
    const sink = makeSink(hdfs, {
      path: '/data/s',
      secure: true,
      auth: { type: 'delegation_token', token_file: file },
    });
    await sink.connect();
    await sink.write([q(1), q(2)]);
    expect(await sink.flush('shutdown')).toEqual({ committedThrough: 2, bytes: expect.any(Number) });
    expectExactlyOnce(hdfs, 2, '/data/s');
    expect(hdfs.fs.stat('/data/s')?.owner).toBe(USER);
    await sink.close();
  });

  test('permission denied is a clear, non-retriable auth error naming the path', async () => {
    const hdfs = await emulator();
    hdfs.fs.mkdirs('/locked', { owner: 'hdfs', permission: 0o755 });
    const sink = makeSink(hdfs, { path: '/locked/x' });
    await expect(sink.connect()).rejects.toMatchObject({
      code: 'SLUICE_AUTH',
      retriable: false,
      exception: 'AccessControlException',
      message: expect.stringContaining('MKDIRS /locked/x/_sluice/gw1/hdfs'),
    });
  });
});

/** A CA and a server certificate for 127.0.0.1 (the one test certificate helper). */
async function certificates(dir: string): Promise<{ caFile: string; key: Buffer; cert: Buffer }> {
  const c = await makeTestCerts(dir);
  return { caFile: c.ca, key: readFileSync(c.serverKey), cert: readFileSync(c.serverCert) };
}

/** TLS in front of an http server, rewriting http redirects to `rewrite` (the datanode's TLS face). */
async function tlsProxy(
  tls: { key: Buffer; cert: Buffer },
  target: string,
  rewrite?: { from: string; to: string },
): Promise<Server> {
  const server = createHttpsServer(tls, (req, res) => {
    const up = httpRequest(
      `${target}${req.url ?? '/'}`,
      { method: req.method, headers: req.headers },
      (ans) => {
        const headers = { ...ans.headers };
        if (rewrite && headers.location)
          headers.location = headers.location.replace(rewrite.from, rewrite.to);
        res.writeHead(ans.statusCode ?? 502, headers);
        ans.pipe(res);
      },
    );
    up.on('error', (err) => res.destroy(err));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

test('swebhdfs: https namenode and datanode with a custom CA; without the CA a clear TLS error', async () => {
  const hdfs = await emulator();
  const tls = await certificates(tempDir());
  const dn = await tlsProxy(tls, hdfs.datanodeUrl);
  const dnUrl = `https://127.0.0.1:${(dn.address() as AddressInfo).port}`;
  const nn = await tlsProxy(tls, hdfs.namenodeUrl, { from: hdfs.datanodeUrl, to: dnUrl });
  const nnUrl = `https://127.0.0.1:${(nn.address() as AddressInfo).port}`;
  try {
    const refused = makeSink(hdfs, { namenodes: [nnUrl], path: '/data/tls' });
    await expect(refused.connect()).rejects.toMatchObject({
      code: 'SLUICE_AUTH',
      message: expect.stringMatching(/TLS/),
    });
    const sink = makeSink(hdfs, { namenodes: [nnUrl], path: '/data/tls', tls: { ca_file: tls.caFile } });
    await sink.connect();
    await sink.write([q(1), q(2), q(3)]);
    expect(await sink.flush('shutdown')).toEqual({ committedThrough: 3, bytes: expect.any(Number) });
    await sink.close();
    expectExactlyOnce(hdfs, 3, '/data/tls');
  } finally {
    nn.close();
    dn.close();
  }
});

test('the real Gateway drains a simulator into hourly, per-device directories, every reading once', async () => {
  const hdfs = await emulator();
  const dataDir = tempDir();
  const count = 3_000;
  const config = validateConfig({
    gateway: { id: 'gw-e2e', data_dir: dataDir },
    log: { level: 'silent' },
    sources: { sim: { type: 'simulator', devices: 5, interval_ms: 1, count } },
    sinks: {
      lake: {
        ...sinkConfigInput(hdfs),
        path: '/data/sensors/{yyyy}/{MM}/{dd}/{HH}/{device}',
        max_file_readings: 250,
        idle_timeout_ms: 100,
        start_from: 'oldest',
        batch: { max_count: 500, linger_ms: 5 },
      },
    },
  });
  const gw = await Gateway.start(config, { log: silentLogger });
  const last = gw.queue.origin + count - 1;
  await until(() => gw.queue.stats().lastSeq === last && gw.queue.cursorPosition('lake') === last, {
    timeoutMs: 30_000,
    intervalMs: 10,
  });
  await gw.stop();
  const files = expectExactlyOnce(hdfs, count, '/data/sensors', gw.queue.origin);
  for (const f of files) {
    for (const r of f.records) {
      const d = new Date(r.ts);
      const hour = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}/${String(d.getUTCHours()).padStart(2, '0')}`;
      expect(f.path.startsWith(`/data/sensors/${hour}/${r.device}/`)).toBe(true);
      expect(r.gateway).toBe('gw-e2e');
    }
  }
});

function sinkConfigInput(hdfs: WebHdfs): Record<string, unknown> {
  return {
    type: 'hdfs',
    namenodes: [hdfs.namenodeUrl],
    path: '/data/x',
    auth: { type: 'pseudo', user: USER },
  };
}
