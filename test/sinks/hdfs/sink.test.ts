// The HDFS sink against a real Apache Hadoop 3.5 MiniDFSCluster (one per file; a fresh directory per
// test): the file layout (templates, names, one file per directory, formats), the recovery of what a crash
// leaves in the state directory, config checks, and the real Gateway draining a simulator into
// time-bucketed directories. Everything is read back through Hadoop's own FileSystem client. (The shared
// conformance suite and the faults Hadoop gives on demand are in real.test.ts, the rest in faults.test.ts.)
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.js';
import { silentLogger } from '../../../gateway/observe/log.js';
import type { QueuedReading } from '../../../gateway/reading.js';
import { Gateway } from '../../../gateway/runtime/gateway.js';
import { schema } from '../../../gateway/sinks/hdfs/schema.js';
import { escapeSegment, expandDir, parseTemplate } from '../../../gateway/sinks/hdfs/paths.js';
import { reading } from '../../helpers/readings.js';
import { tempDir } from '../../helpers/tmp.js';
import { until } from '../../helpers/wait.mjs';
import { startHdfs, type HdfsPeer } from '../../peers/hdfs/index.js';
import {
  USER,
  expectRealExactlyOnce,
  namenodeUrls,
  ownedDir,
  rawWebHdfs,
  realFinalFiles,
  realSink,
  walk,
} from './real-helpers.js';

let hdfs: HdfsPeer;
let namenodes: string[];
beforeAll(async () => {
  hdfs = await startHdfs({ variant: 'simple' });
  namenodes = await namenodeUrls(hdfs);
});
afterAll(async () => hdfs?.close());

let dirs = 0;
const roots: string[] = [];
/** A fresh directory owned by the sink user, so each test reads back only its own files. */
async function freshRoot(): Promise<string> {
  const root = `/s${++dirs}`;
  await ownedDir(hdfs, root);
  roots.push(root);
  return root;
}
// Removed after each test: the cluster holds only what the running test wrote.
afterEach(async () => {
  for (const root of roots.splice(0)) await hdfs.must('rm', root);
});
const names = async (dir: string): Promise<string[]> => (await hdfs.ls(dir)).map((f) => f.name).sort();

const q = (seq: number, over: Partial<QueuedReading> = {}): QueuedReading => ({
  ...reading(seq),
  seq,
  ...over,
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
    const root = await freshRoot();
    const sink = realSink(namenodes, {
      path: `${root}/t/{device}`,
      max_file_readings: 3,
      idle_timeout_ms: 0,
    });
    await sink.connect();
    // dev-1 reaches 3 readings at seq 15: the whole generation (7 directories) rolls there.
    const p = await sink.write(Array.from({ length: 20 }, (_, i) => q(i + 1)));
    expect(p.committedThrough).toBe(15);
    expect(await walk(hdfs, `${root}/t`)).toHaveLength(7);
    expect(await sink.flush('shutdown')).toEqual({ committedThrough: 20, bytes: expect.any(Number) });
    const files = await expectRealExactlyOnce(hdfs, `${root}/t`, 20);
    expect(files.map((f) => f.path)).toContain(
      `${root}/t/dev-1/sluice-gw1-0000000000000001-0000000000000015.jsonl`,
    );
    // Staging is empty and only the newest manifest is kept, as the high-water mark.
    expect(await names(`${root}/t/_sluice/gw1/hdfs`)).toEqual([
      'commit-0000000000000016-0000000000000020.json',
      'staging',
    ]);
    expect(await names(`${root}/t/_sluice/gw1/hdfs/staging`)).toEqual([]);
    await sink.close();
  });

  test('CSV with gzip: a header, RFC 4180 quoting, several gzip members read as one file', async () => {
    const root = await freshRoot();
    const sink = realSink(namenodes, {
      path: `${root}/csv`,
      format: 'csv',
      compression: 'gzip',
      upload_buffer_bytes: 200,
    });
    await sink.connect();
    await sink.write([q(1, { value: { lat: 1, lon: 2 } }), q(2, { device: 'a,"b"' }), q(3), q(4)]);
    await sink.flush('shutdown');
    const [path] = await walk(hdfs, `${root}/csv`);
    expect(path).toMatch(/sluice-gw1-0000000000000001-0000000000000004\.csv\.gz$/);
    const text = gunzipSync(await hdfs.read(path!)).toString();
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('id,gateway,seq,ts,device,metric,value,unit,source,tags');
    expect(lines[1]).toBe('gw1:1,gw1,1,1700000000001,dev-1,temperature,"{""lat"":1,""lon"":2}",C,test,');
    expect(lines[2]).toContain(',"a,""b""",');
    expect(lines).toHaveLength(5);
    await sink.close();
  });
});

describe('recovery', () => {
  test('a generation committed before a crash is completed; uncommitted attempts are removed and rewritten', async () => {
    const root = await freshRoot();
    const nn = namenodes[0]!;
    const over = { path: `${root}/r/{device}`, max_file_readings: 2, idle_timeout_ms: 0 };
    const first = realSink(namenodes, over);
    await first.connect();
    expect((await first.write(Array.from({ length: 8 }, (_, i) => q(i + 1)))).committedThrough).toBe(8);
    await first.close();
    // Rewind HDFS to "manifest renamed (the commit point), only some files placed": move all but one
    // final file back to its staged name, as the sink's user, over WebHDFS.
    const state = `${root}/r/_sluice/gw1/hdfs`;
    const [manifestName] = (await names(state)).filter((n) => n.startsWith('commit-'));
    const manifest = JSON.parse((await hdfs.read(`${state}/${manifestName!}`)).toString()) as {
      staging: string;
      files: Array<{ staged: string; final: string }>;
    };
    expect(manifest.files.length).toBeGreaterThan(1);
    expect((await rawWebHdfs(nn, 'PUT', manifest.staging, 'MKDIRS')).status).toBe(200);
    for (const f of manifest.files.slice(1)) {
      expect(await rawWebHdfs(nn, 'PUT', f.final, 'RENAME', { destination: f.staged })).toEqual({
        status: 200,
        json: { boolean: true },
      });
    }
    // And an attempt at the next generation that never committed: a torn staged file, a temp manifest.
    const torn = `${state}/staging/0000000000000009-deadbeef/_00000.jsonl.tmp`;
    expect((await rawWebHdfs(nn, 'PUT', torn, 'CREATE', {}, '{"torn":')).status).toBe(201);
    const temp = `${state}/_commit-0000000000000009-deadbeef.json.tmp`;
    expect((await rawWebHdfs(nn, 'PUT', temp, 'CREATE', {}, '{')).status).toBe(201);
    expect(await realFinalFiles(hdfs, `${root}/r`)).toHaveLength(1);

    const second = realSink(namenodes, over);
    await second.connect();
    expect(await realFinalFiles(hdfs, `${root}/r`)).toHaveLength(manifest.files.length);
    expect(await names(state)).toEqual([manifestName, 'staging']);
    expect(await names(`${state}/staging`)).toEqual([]);
    // The queue was never acked past 0: 1..8 come again and are skipped, 9..10 are new.
    expect(await second.write(Array.from({ length: 10 }, (_, i) => q(i + 1)))).toEqual({
      committedThrough: 8,
    });
    expect(await second.flush('shutdown')).toEqual({ committedThrough: 10, bytes: expect.any(Number) });
    await expectRealExactlyOnce(hdfs, `${root}/r`, 10);
    await second.close();
  });
});

test(
  'the real Gateway drains a simulator into hourly, per-device directories, every reading once',
  { timeout: 120_000 },
  async () => {
    const root = await freshRoot();
    const dataDir = tempDir();
    const count = 3_000;
    const config = validateConfig({
      gateway: { id: 'gw-e2e', data_dir: dataDir },
      log: { level: 'silent' },
      sources: { sim: { type: 'simulator', devices: 5, interval_ms: 1, count } },
      sinks: {
        lake: {
          type: 'hdfs',
          namenodes,
          auth: { type: 'pseudo', user: USER },
          path: `${root}/sensors/{yyyy}/{MM}/{dd}/{HH}/{device}`,
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
      timeoutMs: 90_000,
      intervalMs: 20,
    });
    await gw.stop();
    const files = await expectRealExactlyOnce(hdfs, `${root}/sensors`, count, gw.queue.origin);
    for (const f of files) {
      for (const r of f.records) {
        const d = new Date(r.ts);
        const hour = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}/${String(d.getUTCHours()).padStart(2, '0')}`;
        expect(f.path.startsWith(`${root}/sensors/${hour}/${r.device}/`)).toBe(true);
        expect(r.gateway).toBe('gw-e2e');
      }
    }
  },
);
