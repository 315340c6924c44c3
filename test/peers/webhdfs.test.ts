// Proves the WebHDFS peer behaves as Hadoop's namenode and datanode do on the wire (two-step writes, error
// JSON and statuses, HDFS rename/delete semantics, permissions, pseudo and token auth, quotas, leases) and
// that each fault switch does what it says. Plain fetch with redirect: 'manual', and curl as a foreign client.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';

import { decodeToken, startWebHdfs } from './webhdfs/index.js';
import type { WebHdfs, WebHdfsOptions } from './webhdfs/index.js';
import { call, reply, send, twoStep, webhdfsUrl } from './webhdfs/raw-client.js';
import type { Reply } from './webhdfs/raw-client.js';

const run = promisify(execFile);
const clusters: WebHdfs[] = [];

async function cluster(options: WebHdfsOptions = {}): Promise<WebHdfs> {
  const w = await startWebHdfs({ groups: { carol: ['staff'], ops: ['supergroup'] }, ...options });
  clusters.push(w);
  w.fs.mkdirs('/user');
  w.fs.mkdirs('/user/alice', { owner: 'alice' });
  w.fs.mkdirs('/user/bob', { owner: 'bob' });
  return w;
}

afterEach(() => {
  for (const w of clusters) expect(w.internalErrors()).toEqual([]);
});
afterAll(async () => {
  await Promise.all(clusters.map((w) => w.close()));
});

describe('two-step writes', () => {
  let w: WebHdfs;
  beforeAll(async () => {
    w = await cluster();
  });

  it('CREATE: 307 without body to the datanode, then 201 with an hdfs:// Location; nothing exists after step 1', async () => {
    const first = await call(w.namenodeUrl, '/user/alice/a.txt', 'CREATE', { method: 'PUT' });
    expect(first.status).toBe(307);
    expect(first.body).toBe('');
    expect(first.headers.get('content-length')).toBe('0');
    const location = new URL(first.headers.get('location')!);
    expect(location.origin).toBe(w.datanodeUrl);
    expect(location.pathname).toBe('/webhdfs/v1/user/alice/a.txt');
    expect(location.search).toBe(
      `?op=CREATE&user.name=alice&namenoderpcaddress=${w.rpcAddress}&createparent=true&overwrite=false`,
    );
    expect(w.fs.stat('/user/alice/a.txt')).toBeUndefined();

    const second = await send(location.toString(), { method: 'PUT', body: 'hello\n' });
    expect(second.status).toBe(201);
    expect(second.headers.get('location')).toBe(`hdfs://${w.rpcAddress}/user/alice/a.txt`);
    expect(second.headers.get('content-length')).toBe('0');
    expect(w.fs.read('/user/alice/a.txt')?.toString()).toBe('hello\n');

    const status = await call(w.namenodeUrl, '/user/alice/a.txt', 'GETFILESTATUS');
    expect(status.json()).toEqual({
      FileStatus: expect.objectContaining({
        type: 'FILE',
        length: 6,
        owner: 'alice',
        group: 'supergroup',
        permission: '644',
        replication: 3,
        blockSize: 134217728,
        pathSuffix: '',
        childrenNum: 0,
        storagePolicy: 0,
      }),
    });
  });

  it('the namenode ignores data sent at step 1 and a client can see it was sent', async () => {
    const before = w.counters().namenodeIgnoredBodyBytes;
    const first = await call(w.namenodeUrl, '/user/alice/early.txt', 'CREATE', {
      method: 'PUT',
      body: 'too soon',
    });
    expect(first.status).toBe(307);
    expect(w.fs.stat('/user/alice/early.txt')).toBeUndefined();
    expect(w.counters().namenodeIgnoredBodyBytes - before).toBe(8);
  });

  it('CREATE parameters reach the datanode sorted; missing parents get the parent mode plus u+wx', async () => {
    w.fs.mkdirs('/ro', { permission: 0o555 });
    const params = { permission: '600', replication: '2', blocksize: '1048576' };
    const { first, second } = await twoStep(w.namenodeUrl, '/ro/x/y/f', 'CREATE', 'data', {
      user: 'hdfs',
      params,
    });
    expect(new URL(first.headers.get('location')!).search).toBe(
      `?op=CREATE&user.name=hdfs&namenoderpcaddress=${w.rpcAddress}` +
        '&blocksize=1048576&createparent=true&overwrite=false&permission=600&replication=2',
    );
    expect(second?.status).toBe(201);
    expect(w.fs.stat('/ro/x/y/f')).toMatchObject({ permission: '600', replication: 2, blockSize: 1048576 });
    expect(w.fs.stat('/ro/x')).toMatchObject({ type: 'DIRECTORY', permission: '755', owner: 'hdfs' });
  });

  it('CREATE over an existing file: 307 anyway, then 403 FileAlreadyExistsException; overwrite=true replaces it', async () => {
    w.fs.writeFile('/user/alice/exists', 'old', { owner: 'alice' });
    const { first, second } = await twoStep(w.namenodeUrl, '/user/alice/exists', 'CREATE', 'new');
    expect(first.status).toBe(307);
    expect(second?.status).toBe(403);
    expect(second?.headers.get('connection')).toBe('close');
    expect(second?.remote()).toEqual({
      exception: 'FileAlreadyExistsException',
      javaClassName: 'org.apache.hadoop.fs.FileAlreadyExistsException',
      message: '/user/alice/exists for client 127.0.0.1 already exists',
    });
    const again = await twoStep(w.namenodeUrl, '/user/alice/exists', 'CREATE', 'new', {
      params: { overwrite: 'true' },
    });
    expect(again.second?.status).toBe(201);
    expect(w.fs.read('/user/alice/exists')?.toString()).toBe('new');
    w.fs.mkdirs('/user/alice/dir', { owner: 'alice' });
    const dir = await twoStep(w.namenodeUrl, '/user/alice/dir', 'CREATE', 'x', {
      params: { overwrite: 'true' },
    });
    expect(dir.second?.remote().message).toBe('/user/alice/dir already exists as a directory');
  });

  it('APPEND: POST 307 then POST 200 with no body; a missing file is a 404 at the namenode', async () => {
    w.fs.writeFile('/user/alice/log', 'one\n', { owner: 'alice' });
    const { first, second } = await twoStep(w.namenodeUrl, '/user/alice/log', 'APPEND', 'two\n');
    expect(first.status).toBe(307);
    expect(new URL(first.headers.get('location')!).searchParams.get('op')).toBe('APPEND');
    expect(second?.status).toBe(200);
    expect(second?.body).toBe('');
    expect(w.fs.read('/user/alice/log')?.toString()).toBe('one\ntwo\n');
    const missing = await call(w.namenodeUrl, '/user/alice/nope', 'APPEND', { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(missing.remote().message).toBe('File /user/alice/nope not found.');
  });

  it('noredirect=true answers 200 with the Location in JSON', async () => {
    const r = await call(w.namenodeUrl, '/user/alice/n', 'CREATE', {
      method: 'PUT',
      params: { noredirect: 'true' },
    });
    expect(r.status).toBe(200);
    expect((r.json() as { Location: string }).Location).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/webhdfs\/v1\/user\/alice\/n\?op=CREATE&/,
    );
  });

  it('OPEN: 307 with offset, ranges by offset and length, and an offset past the end is refused', async () => {
    w.fs.writeFile('/user/alice/r', '0123456789', { owner: 'alice' });
    const first = await call(w.namenodeUrl, '/user/alice/r', 'OPEN', {
      params: { offset: '2', length: '3' },
    });
    expect(first.status).toBe(307);
    const location = first.headers.get('location')!;
    expect(new URL(location).search).toBe(
      `?op=OPEN&user.name=alice&namenoderpcaddress=${w.rpcAddress}&length=3&offset=2`,
    );
    const data = await send(location);
    expect([data.status, data.body, data.headers.get('content-type')]).toEqual([
      200,
      '234',
      'application/octet-stream',
    ]);
    const past = await call(w.namenodeUrl, '/user/alice/r', 'OPEN', { params: { offset: '10' } });
    expect([past.status, past.remote().message]).toEqual([
      403,
      'Offset=10 out of the range [0, 10); OPEN, path=/user/alice/r',
    ]);
  });

  it('curl, a foreign client, does a two-step CREATE and reads the file back', async () => {
    const dir = tempDir('webhdfs-');
    await writeFile(join(dir, 'payload'), 'from curl\n');
    const step1 = await run('curl', [
      '-sS',
      '-i',
      '-X',
      'PUT',
      webhdfsUrl(w.namenodeUrl, '/user/alice/curl.txt', 'CREATE'),
    ]);
    expect(step1.stdout).toMatch(/^HTTP\/1\.1 307 Temporary Redirect\r\n/);
    const location = /^Location: (\S+)\r$/im.exec(step1.stdout)?.[1];
    expect(location).toBeDefined();
    const step2 = await run('curl', ['-sS', '-i', '-X', 'PUT', '-T', join(dir, 'payload'), location!]);
    expect(step2.stdout).toMatch(/HTTP\/1\.1 201 Created\r\n/);
    expect(step2.stdout).toContain(`Location: hdfs://${w.rpcAddress}/user/alice/curl.txt`);
    const read = await run('curl', ['-sS', '-L', webhdfsUrl(w.namenodeUrl, '/user/alice/curl.txt', 'OPEN')]);
    expect(read.stdout).toBe('from curl\n');
  });

  it('counts requests per op on each server', async () => {
    w.resetCounters();
    await twoStep(w.namenodeUrl, '/user/alice/c', 'CREATE', 'x');
    await call(w.namenodeUrl, '/user/alice/c', 'GETFILESTATUS');
    expect(w.counters()).toMatchObject({
      namenode: { CREATE: 1, GETFILESTATUS: 1 },
      datanode: { CREATE: 1 },
      datanodeBytesReceived: 1,
    });
  });
});

describe('error answers', () => {
  let w: WebHdfs;
  beforeAll(async () => {
    w = await cluster();
  });

  it('FileNotFoundException is 404 with the exact RemoteException JSON', async () => {
    const r = await call(w.namenodeUrl, '/nope', 'GETFILESTATUS');
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.body).toBe(
      '{"RemoteException":{"exception":"FileNotFoundException","javaClassName":"java.io.FileNotFoundException",' +
        '"message":"File does not exist: /nope"}}',
    );
    expect((await call(w.namenodeUrl, '/nope', 'LISTSTATUS')).remote().message).toBe(
      'File /nope does not exist.',
    );
  });

  it.each([
    [
      'unknown op',
      'GET',
      'FOO',
      {},
      400,
      'IllegalArgumentException',
      'Invalid value for webhdfs parameter "op": No enum constant org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.FOO',
    ],
    [
      'op of another method',
      'GET',
      'CREATE',
      {},
      400,
      'IllegalArgumentException',
      'Invalid value for webhdfs parameter "op": No enum constant org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.CREATE',
    ],
    [
      'DELETE sent as PUT',
      'PUT',
      'DELETE',
      {},
      400,
      'IllegalArgumentException',
      'Invalid value for webhdfs parameter "op": No enum constant org.apache.hadoop.hdfs.web.resources.PutOpParam.Op.DELETE',
    ],
    ['no op', 'GET', null, {}, 400, 'UnsupportedOperationException', 'op=NULL is not supported'],
    [
      'bad boolean',
      'DELETE',
      'DELETE',
      { recursive: 'yes' },
      400,
      'IllegalArgumentException',
      'Invalid value for webhdfs parameter "recursive": Failed to parse "yes" to Boolean.',
    ],
    [
      'permission out of range',
      'PUT',
      'MKDIRS',
      { permission: '2000' },
      400,
      'IllegalArgumentException',
      'Invalid value for webhdfs parameter "permission": Invalid parameter range: permission = 2000 > 1777',
    ],
    [
      'RENAME without destination',
      'PUT',
      'RENAME',
      {},
      400,
      'IllegalArgumentException',
      'Required param destination for op: RENAME is null or empty',
    ],
    [
      'relative destination',
      'PUT',
      'RENAME',
      { destination: 'x' },
      400,
      'IllegalArgumentException',
      'Invalid value for webhdfs parameter "destination": Invalid parameter value: destination = "x" is not an absolute path.',
    ],
    ['invalid path', 'PUT', 'MKDIRS', {}, 400, 'InvalidPathException', 'Invalid path name /a:b', '/a:b'],
    [
      'op real HDFS has but the emulator does not',
      'PUT',
      'SETXATTR',
      {},
      501,
      'UnsupportedOperationException',
      'op=SETXATTR is not emulated',
    ],
  ] as const)(
    '%s',
    async (_name, method, op, params, status, exception, message, path: string = '/user/alice') => {
      const r = await send(webhdfsUrl(w.namenodeUrl, path, op, { params }), { method });
      expect([r.status, r.remote().exception, r.remote().message]).toEqual([status, exception, message]);
    },
  );

  it('an HTTP method WebHDFS has no resource for is 405; a path outside /webhdfs/v1 is 404', async () => {
    expect((await call(w.namenodeUrl, '/', 'GETFILESTATUS', { method: 'PATCH' })).status).toBe(405);
    expect((await send(`${w.namenodeUrl}/jmx`)).status).toBe(404);
  });

  it('the datanode refuses ops it does not serve and redirects not from a namenode', async () => {
    const bad = await send(webhdfsUrl(w.datanodeUrl, '/user/alice/x', 'MKDIRS'), { method: 'PUT' });
    expect([bad.status, bad.remote().message]).toEqual([400, 'Invalid operation MKDIRS']);
    const noNn = await send(webhdfsUrl(w.datanodeUrl, '/user/alice/x', 'CREATE'), {
      method: 'PUT',
      body: 'x',
    });
    expect([noNn.status, noNn.remote().exception]).toEqual([400, 'IllegalArgumentException']);
    expect(w.fs.stat('/user/alice/x')).toBeUndefined();
  });
});

describe('namespace semantics', () => {
  let w: WebHdfs;
  beforeAll(async () => {
    w = await cluster();
  });
  const rename = async (src: string, dst: string): Promise<unknown> =>
    (await call(w.namenodeUrl, src, 'RENAME', { method: 'PUT', params: { destination: dst } })).json();

  it('MKDIRS is true when it creates and when the directory exists; over a file it is an error', async () => {
    const made = await call(w.namenodeUrl, '/user/alice/d1/d2', 'MKDIRS', {
      method: 'PUT',
      params: { permission: '555' },
    });
    expect(made.json()).toEqual({ boolean: true });
    // The last directory gets the mode asked for, the ones made on the way also u+wx.
    expect(w.fs.stat('/user/alice/d1/d2')?.permission).toBe('555');
    expect(w.fs.stat('/user/alice/d1')?.permission).toBe('755');
    expect((await call(w.namenodeUrl, '/user/alice/d1', 'MKDIRS', { method: 'PUT' })).json()).toEqual({
      boolean: true,
    });
    w.fs.writeFile('/user/alice/file', 'x', { owner: 'alice' });
    const onFile = await call(w.namenodeUrl, '/user/alice/file', 'MKDIRS', { method: 'PUT' });
    expect([onFile.status, onFile.remote().message]).toEqual([
      403,
      'Path is not a directory: /user/alice/file',
    ]);
  });

  it('RENAME follows HDFS: false for a missing source, an existing file, a missing parent or a move into itself', async () => {
    w.fs.writeFile('/user/alice/r/a', 'A', { owner: 'alice' });
    w.fs.writeFile('/user/alice/r/b', 'B', { owner: 'alice' });
    w.fs.mkdirs('/user/alice/r/dir', { owner: 'alice' });
    expect(await rename('/user/alice/r/missing', '/user/alice/r/z')).toEqual({ boolean: false });
    expect(await rename('/user/alice/r/a', '/user/alice/r/b')).toEqual({ boolean: false });
    expect(w.fs.read('/user/alice/r/b')?.toString()).toBe('B');
    expect(await rename('/user/alice/r/a', '/user/alice/r/no/such/a')).toEqual({ boolean: false });
    expect(await rename('/user/alice/r/dir', '/user/alice/r/dir/sub')).toEqual({ boolean: false });
    expect(await rename('/user/alice/r/a', '/user/alice/r/a')).toEqual({ boolean: true });
    expect(await rename('/user/alice/r/a', '/user/alice/r/dir')).toEqual({ boolean: true });
    expect(w.fs.read('/user/alice/r/dir/a')?.toString()).toBe('A');
    expect(await rename('/user/alice/r/b', '/user/alice/r/c')).toEqual({ boolean: true });
    expect(w.fs.list('/user/alice/r')).toEqual(['c', 'dir']);
    const underFile = await call(w.namenodeUrl, '/user/alice/r/c', 'RENAME', {
      method: 'PUT',
      params: { destination: '/user/alice/r/c/x' },
    });
    expect([underFile.status, underFile.remote().exception]).toEqual([403, 'ParentNotDirectoryException']);
  });

  it('DELETE: false when missing, refuses a non-empty directory unless recursive, never deletes the root', async () => {
    w.fs.writeFile('/user/alice/del/f', 'x', { owner: 'alice' });
    const del = (path: string, recursive: string, user = 'alice') =>
      call(w.namenodeUrl, path, 'DELETE', { method: 'DELETE', params: { recursive }, user });
    expect((await del('/user/alice/none', 'false')).json()).toEqual({ boolean: false });
    const refused = await del('/user/alice/del', 'false');
    expect([refused.status, refused.remote()]).toEqual([
      403,
      {
        exception: 'PathIsNotEmptyDirectoryException',
        javaClassName: 'org.apache.hadoop.fs.PathIsNotEmptyDirectoryException',
        message: "`/user/alice/del is non empty': Directory is not empty",
      },
    ]);
    expect((await del('/user/alice/del', 'true')).json()).toEqual({ boolean: true });
    expect(w.fs.stat('/user/alice/del')).toBeUndefined();
    expect((await del('/', 'true', 'hdfs')).json()).toEqual({ boolean: false });
  });

  it('LISTSTATUS sorts children and lists a file as itself; GETHOMEDIRECTORY and GETCONTENTSUMMARY', async () => {
    w.fs.writeFile('/user/alice/ls/b', 'bb', { owner: 'alice' });
    w.fs.writeFile('/user/alice/ls/a', 'a', { owner: 'alice' });
    const list = (await call(w.namenodeUrl, '/user/alice/ls', 'LISTSTATUS')).json() as {
      FileStatuses: { FileStatus: { pathSuffix: string }[] };
    };
    expect(list.FileStatuses.FileStatus.map((s) => s.pathSuffix)).toEqual(['a', 'b']);
    const one = (await call(w.namenodeUrl, '/user/alice/ls/a', 'LISTSTATUS')).json() as typeof list;
    expect(one.FileStatuses.FileStatus.map((s) => s.pathSuffix)).toEqual(['']);
    expect((await call(w.namenodeUrl, '/', 'GETHOMEDIRECTORY')).json()).toEqual({ Path: '/user/alice' });
    expect((await call(w.namenodeUrl, '/', 'GETHOMEDIRECTORY', { user: null })).json()).toEqual({
      Path: '/user/dr.who',
    });
    const summary = await call(w.namenodeUrl, '/user/alice/ls', 'GETCONTENTSUMMARY');
    expect(summary.json()).toEqual({
      ContentSummary: {
        directoryCount: 1,
        ecPolicy: 'Replicated',
        fileCount: 2,
        length: 3,
        quota: -1,
        spaceConsumed: 9,
        spaceQuota: -1,
        typeQuota: {},
      },
    });
  });
});

describe('permissions', () => {
  let w: WebHdfs;
  beforeAll(async () => {
    w = await cluster();
  });

  it('writing needs w on the parent, checked by the datanode at step 2', async () => {
    const { first, second } = await twoStep(w.namenodeUrl, '/user/alice/by-bob', 'CREATE', 'x', {
      user: 'bob',
    });
    expect(first.status).toBe(307);
    expect([second?.status, second?.remote()]).toEqual([
      403,
      {
        exception: 'AccessControlException',
        javaClassName: 'org.apache.hadoop.security.AccessControlException',
        message: 'Permission denied: user=bob, access=WRITE, inode="/user/alice":alice:supergroup:drwxr-xr-x',
      },
    ]);
    const mkdir = await call(w.namenodeUrl, '/user/alice/x', 'MKDIRS', { method: 'PUT', user: 'bob' });
    expect(mkdir.status).toBe(403);
  });

  it('traversal needs x on every ancestor; reading needs r', async () => {
    w.fs.writeFile('/private/f', 'secret', { owner: 'alice' });
    w.fs.chown('/private', 'alice');
    w.fs.chmod('/private', 0o700);
    const stat = await call(w.namenodeUrl, '/private/f', 'GETFILESTATUS', { user: 'bob' });
    expect(stat.remote().message).toBe(
      'Permission denied: user=bob, access=EXECUTE, inode="/private":alice:supergroup:drwx------',
    );
    w.fs.writeFile('/user/alice/mine', 'x', { owner: 'alice', permission: 0o600 });
    const open = await call(w.namenodeUrl, '/user/alice/mine', 'OPEN', { user: 'bob' });
    expect(open.status).toBe(307);
    const read = await send(open.headers.get('location')!);
    expect([read.status, read.remote().message]).toEqual([
      403,
      'Permission denied: user=bob, access=READ, inode="/user/alice/mine":alice:supergroup:-rw-------',
    ]);
  });

  it('owner bits bind the owner and group bits only members; the superuser and supergroup skip checks', async () => {
    w.fs.writeFile('/shared/g', 'group data', { owner: 'alice', group: 'staff', permission: 0o040 });
    const readAs = async (user: string) => {
      const first = await call(w.namenodeUrl, '/shared/g', 'OPEN', { user });
      return (await send(first.headers.get('location')!)).status;
    };
    expect(await readAs('alice')).toBe(403);
    expect(await readAs('carol')).toBe(200);
    expect(await readAs('bob')).toBe(403);
    expect(await readAs('hdfs')).toBe(200);
    expect(await readAs('ops')).toBe(200);
  });

  it('a sticky directory keeps others from deleting your files; SETPERMISSION and SETOWNER need ownership', async () => {
    w.fs.mkdirs('/tmp', { permission: 0o1777 });
    w.fs.writeFile('/tmp/bobs', 'x', { owner: 'bob' });
    const del = await call(w.namenodeUrl, '/tmp/bobs', 'DELETE', { method: 'DELETE' });
    expect(del.remote().message).toMatch(
      /^Permission denied by sticky bit: user=alice, path="\/tmp\/bobs":bob:/,
    );
    const chmod = await call(w.namenodeUrl, '/tmp/bobs', 'SETPERMISSION', {
      method: 'PUT',
      params: { permission: '777' },
    });
    expect(chmod.remote().message).toBe('Permission denied. user=alice is not the owner of inode=/tmp/bobs');
    const chown = await call(w.namenodeUrl, '/tmp/bobs', 'SETOWNER', {
      method: 'PUT',
      user: 'bob',
      params: { owner: 'alice' },
    });
    expect(chown.remote().message).toBe('User bob is not a super user (non-super user cannot change owner).');
    const ok = await call(w.namenodeUrl, '/tmp/bobs', 'SETPERMISSION', {
      method: 'PUT',
      user: 'bob',
      params: { permission: '600' },
    });
    expect([ok.status, ok.body, w.fs.stat('/tmp/bobs')?.permission]).toEqual([200, '', '600']);
  });

  it('dfs.permissions.enabled=false lets anyone write anywhere', async () => {
    const open = await cluster({ permissionsEnabled: false });
    const { second } = await twoStep(open.namenodeUrl, '/user/alice/by-bob', 'CREATE', 'x', { user: 'bob' });
    expect(second?.status).toBe(201);
  });
});

describe('authentication', () => {
  it('pseudo auth: anonymous is dr.who by default; disallowed, no user.name is a 401 HTML challenge', async () => {
    const strict = await cluster({ allowAnonymous: false });
    const r = await call(strict.namenodeUrl, '/', 'GETHOMEDIRECTORY', { user: null });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('PseudoAuth');
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.body).toContain('Authentication required');
    // hdfs.web.AuthFilter lets a delegation parameter through; with security off the user is still dr.who.
    const viaParam = await call(strict.namenodeUrl, '/', 'GETHOMEDIRECTORY', {
      user: null,
      params: { delegation: 'x' },
    });
    expect(viaParam.json()).toEqual({ Path: '/user/dr.who' });
    // Security off: no secret manager runs (dfs.namenode.delegation.token.always-use is false), so no token.
    expect((await call(strict.namenodeUrl, '/', 'GETDELEGATIONTOKEN')).json()).toEqual({ Token: null });
    const always = await cluster({ alwaysUseDelegationTokens: true });
    const issued = (await call(always.namenodeUrl, '/', 'GETDELEGATIONTOKEN')).json() as {
      Token: { urlString: string };
    };
    expect(decodeToken(issued.Token.urlString).id.owner).toBe('alice');
    // ...and JspHelper.getUGI ignores it with security off: user.name (here none) still decides.
    const ignored = await call(always.namenodeUrl, '/', 'GETHOMEDIRECTORY', {
      user: null,
      params: { delegation: issued.Token.urlString },
    });
    expect(ignored.json()).toEqual({ Path: '/user/dr.who' });
  });

  describe('secure mode', () => {
    let w: WebHdfs;
    let now = Date.UTC(2030, 0, 1);
    beforeAll(async () => {
      w = await cluster({
        secure: true,
        kerberosTickets: { 'ticket-alice': 'alice', 'ticket-yarn': 'yarn' },
        now: () => now,
      });
    });
    const negotiate = (ticket: string) => ({ headers: { Authorization: `Negotiate ${ticket}` }, user: null });
    const getToken = async (renewer: string): Promise<string> => {
      const r = await call(w.namenodeUrl, '/', 'GETDELEGATIONTOKEN', {
        ...negotiate('ticket-alice'),
        params: { renewer },
      });
      return (r.json() as { Token: { urlString: string } }).Token.urlString;
    };

    it('refuses user.name alone with a Negotiate challenge', async () => {
      const r = await call(w.namenodeUrl, '/', 'GETHOMEDIRECTORY');
      expect([r.status, r.headers.get('www-authenticate')]).toEqual([401, 'Negotiate']);
    });

    it('issues tokens in Hadoop encoding and accepts them instead of user.name, through both steps', async () => {
      const token = await getToken('yarn');
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeToken(token).id).toMatchObject({ owner: 'alice', renewer: 'yarn', realUser: '' });
      const home = await call(w.namenodeUrl, '/', 'GETHOMEDIRECTORY', {
        user: null,
        params: { delegation: token },
      });
      expect(home.json()).toEqual({ Path: '/user/alice' });
      const { first, second } = await twoStep(w.namenodeUrl, '/user/alice/t', 'CREATE', 'tok', {
        user: null,
        params: { delegation: token },
      });
      const location = new URL(first.headers.get('location')!);
      expect(location.searchParams.get('delegation')).toBe(token);
      expect(location.searchParams.has('user.name')).toBe(false);
      expect(second?.status).toBe(201);
      expect(w.fs.stat('/user/alice/t')?.owner).toBe('alice');
    });

    it('a Kerberos caller gets a fresh token in the redirect; a token cannot be used as another user', async () => {
      const first = await call(w.namenodeUrl, '/user/alice/k', 'CREATE', {
        method: 'PUT',
        ...negotiate('ticket-alice'),
      });
      const minted = new URL(first.headers.get('location')!).searchParams.get('delegation')!;
      expect(decodeToken(minted).id.owner).toBe('alice');
      const r = await call(w.namenodeUrl, '/', 'GETHOMEDIRECTORY', {
        user: 'bob',
        params: { delegation: minted },
      });
      expect([r.status, r.remote().exception, r.remote().message]).toEqual([
        403,
        'SecurityException',
        'Failed to obtain user group information: java.io.IOException: Usernames not matched: name=bob != expected=alice',
      ]);
      const again = await call(w.namenodeUrl, '/', 'GETDELEGATIONTOKEN', {
        user: null,
        params: { delegation: minted },
      });
      expect([again.status, again.remote().message]).toEqual([400, 'delegation parameter is not null.']);
    });

    it('RENEW needs the named renewer over Kerberos; CANCEL makes the token useless on both nodes', async () => {
      const token = await getToken('yarn');
      const renewAs = (ticket: string) =>
        call(w.namenodeUrl, '/', 'RENEWDELEGATIONTOKEN', {
          method: 'PUT',
          ...negotiate(ticket),
          params: { token },
        });
      const byAlice = await renewAs('ticket-alice');
      expect(byAlice.remote().message).toMatch(
        /^alice tries to renew a token \(token for alice: .*\) with non-matching renewer yarn$/,
      );
      expect((await renewAs('ticket-yarn')).json()).toEqual({ long: now + 86_400_000 });
      const overToken = await call(w.namenodeUrl, '/', 'RENEWDELEGATIONTOKEN', {
        method: 'PUT',
        user: null,
        params: { token, delegation: token },
      });
      expect(overToken.remote().message).toBe(
        'Delegation Token can be renewed only with kerberos or web authentication',
      );

      const step1 = await call(w.namenodeUrl, '/user/alice/c', 'CREATE', {
        method: 'PUT',
        user: null,
        params: { delegation: token },
      });
      const cancel = await call(w.namenodeUrl, '/', 'CANCELDELEGATIONTOKEN', {
        method: 'PUT',
        user: null,
        params: { token, delegation: token },
      });
      expect([cancel.status, cancel.body]).toEqual([200, '']);
      const used = await call(w.namenodeUrl, '/', 'GETHOMEDIRECTORY', {
        user: null,
        params: { delegation: token },
      });
      expect([used.status, used.remote().message]).toEqual([
        403,
        expect.stringMatching(
          /^Failed to obtain user group information: org\.apache\.hadoop\.security\.token\.SecretManager\$InvalidToken: token \(.*\) can't be found in cache$/,
        ),
      ]);
      const dn = await send(step1.headers.get('location')!, { method: 'PUT', body: 'x' });
      expect([dn.status, dn.remote().exception]).toEqual([403, 'InvalidToken']);
    });

    it('an expired token is refused; the datanode without a token answers NullPointerException', async () => {
      const token = await getToken('yarn');
      now += 86_400_001;
      const r = await call(w.namenodeUrl, '/', 'GETHOMEDIRECTORY', {
        user: null,
        params: { delegation: token },
      });
      expect(r.remote().message).toMatch(/is expired, current time: .* expected renewal time: /);
      const dn = await send(webhdfsUrl(w.datanodeUrl, '/user/alice/x', 'OPEN'));
      expect([dn.status, dn.remote()]).toEqual([
        500,
        { exception: 'NullPointerException', javaClassName: 'java.lang.NullPointerException', message: null },
      ]);
    });

    it("securityExceptionStatus: 401 gives the WebHDFS page's status for SecurityException", async () => {
      const legacy = await cluster({ secure: true, securityExceptionStatus: 401 });
      const r = await call(legacy.namenodeUrl, '/', 'GETHOMEDIRECTORY', {
        user: null,
        params: { delegation: 'AAAA' },
      });
      expect([r.status, r.remote().exception]).toEqual([401, 'SecurityException']);
    });
  });
});

describe('quotas and leases', () => {
  let w: WebHdfs;
  let now = Date.UTC(2030, 0, 1);
  beforeAll(async () => {
    w = await cluster({ now: () => now });
    w.fs.mkdirs('/q', { owner: 'alice' });
    w.fs.setQuota('/q', { space: 2 * 1024 * 1024 });
  });
  const params = { blocksize: '1048576' };

  it('an empty CREATE fits; a few bytes need a whole block x3 and fail, leaving an empty file under lease', async () => {
    const empty = await twoStep(w.namenodeUrl, '/q/empty', 'CREATE', '', { params });
    expect(empty.second?.status).toBe(201);
    const small = await twoStep(w.namenodeUrl, '/q/small', 'CREATE', 'ten bytes!', { params });
    expect([small.second?.status, small.second?.remote()]).toEqual([
      403,
      {
        exception: 'DSQuotaExceededException',
        javaClassName: 'org.apache.hadoop.hdfs.protocol.DSQuotaExceededException',
        message:
          'The DiskSpace quota of /q is exceeded: quota = 2097152 B = 2 MB but diskspace consumed = 3145728 B = 3 MB',
      },
    ]);
    expect(w.fs.stat('/q/small')?.length).toBe(0);
    expect(w.fs.leaseHolder('/q/small')).toMatch(/^DFSClient_NONMAPREDUCE_\d+_1$/);
    const append = await twoStep(w.namenodeUrl, '/q/small', 'APPEND', 'x');
    expect(append.second?.remote().exception).toBe('AlreadyBeingCreatedException');
    now += 60_000;
    const retry = await twoStep(w.namenodeUrl, '/q/small', 'CREATE', 'x', { params });
    expect(retry.second?.remote().exception).toBe('FileAlreadyExistsException');
    expect(w.fs.leaseHolder('/q/small')).toBeUndefined();
    const fits = await twoStep(w.namenodeUrl, '/q/small', 'CREATE', 'x', {
      params: { ...params, replication: '1', overwrite: 'true' },
    });
    expect(fits.second?.status).toBe(201);
  });

  it('a namespace quota counts the directory itself and refuses the next name', async () => {
    w.fs.mkdirs('/n', { owner: 'alice' });
    w.fs.setQuota('/n', { namespace: 2 });
    expect((await twoStep(w.namenodeUrl, '/n/one', 'CREATE', '1')).second?.status).toBe(201);
    const two = await twoStep(w.namenodeUrl, '/n/two', 'CREATE', '2');
    expect([two.second?.remote().exception, two.second?.remote().message]).toEqual([
      'NSQuotaExceededException',
      'The NameSpace quota (directories and files) of directory /n is exceeded: quota=2 file count=3',
    ]);
    expect(w.fs.stat('/n/two')).toBeUndefined();
  });

  it('a second writer is refused while the first holds the lease; overwrite takes the file from under it', async () => {
    const first = await call(w.namenodeUrl, '/user/alice/busy', 'CREATE', { method: 'PUT' });
    const slow = fetchStreaming(first.headers.get('location')!, 'part one ');
    await until(() => w.fs.leaseHolder('/user/alice/busy') !== undefined, {
      timeoutMs: 5_000,
      intervalMs: 10,
    });
    const second = await twoStep(w.namenodeUrl, '/user/alice/busy', 'CREATE', 'rival');
    expect(second.second?.remote().message).toMatch(
      /^Failed to CREATE_FILE \/user\/alice\/busy for DFSClient_\S+ on 127\.0\.0\.1 because this file lease is currently owned by DFSClient_\S+ on 127\.0\.0\.1$/,
    );
    const over = await twoStep(w.namenodeUrl, '/user/alice/busy', 'CREATE', 'rival', {
      params: { overwrite: 'true' },
    });
    expect(over.second?.status).toBe(201);
    const late = await slow.finish('part two');
    expect([late.status, late.remote().exception]).toEqual([404, 'FileNotFoundException']);
    expect(w.fs.read('/user/alice/busy')?.toString()).toBe('rival');
  });
});

describe('fault switches', () => {
  let w: WebHdfs;
  beforeAll(async () => {
    w = await cluster();
  });
  afterEach(async () => {
    await w.faults.clear();
  });

  it('namenode down refuses connections, comes back on the same port, and the datanode cannot reach it meanwhile', async () => {
    const first = await call(w.namenodeUrl, '/user/alice/nn', 'CREATE', { method: 'PUT' });
    await w.faults.namenodeDown();
    const refused = await fetch(webhdfsUrl(w.namenodeUrl, '/', 'GETHOMEDIRECTORY')).catch((e: unknown) => e);
    expect((refused as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
    const dn = await send(first.headers.get('location')!, { method: 'PUT', body: 'x' });
    expect([dn.status, dn.remote().exception]).toEqual([403, 'ConnectException']);
    await w.faults.namenodeUp();
    expect((await call(w.namenodeUrl, '/', 'GETHOMEDIRECTORY')).status).toBe(200);
  });

  it('datanode down refuses connections after the namenode redirected', async () => {
    await w.faults.datanodeDown();
    const first = await call(w.namenodeUrl, '/user/alice/dn', 'CREATE', { method: 'PUT' });
    expect(first.status).toBe(307);
    const refused = await fetch(first.headers.get('location')!, { method: 'PUT', body: 'x' }).catch(
      (e: unknown) => e,
    );
    expect((refused as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
  });

  it('dropUpload cuts the connection after N bytes and the datanode commits exactly those bytes', async () => {
    w.faults.dropUpload(5);
    const created = await twoStep(w.namenodeUrl, '/user/alice/torn', 'CREATE', 'abcdefghij').catch(
      (e: unknown) => e,
    );
    expect(created).toBeInstanceOf(Error);
    expect(w.fs.read('/user/alice/torn')?.toString()).toBe('abcde');
    expect(w.fs.leaseHolder('/user/alice/torn')).toBeUndefined();
    expect(w.counters().droppedUploads).toBe(1);
    w.faults.dropUpload(2);
    await twoStep(w.namenodeUrl, '/user/alice/torn', 'APPEND', 'XYZ').catch((e: unknown) => e);
    expect(w.fs.read('/user/alice/torn')?.toString()).toBe('abcdeXY');
    const whole = await twoStep(w.namenodeUrl, '/user/alice/torn', 'APPEND', '!');
    expect(whole.second?.status).toBe(200);
  });

  it('safe mode refuses mutations for N requests, at the datanode for writes, never reads', async () => {
    w.faults.enterSafeMode({ requests: 2 });
    const mk = await call(w.namenodeUrl, '/user/alice/sm', 'MKDIRS', { method: 'PUT' });
    expect([mk.status, mk.remote().exception, mk.remote().message]).toEqual([
      403,
      'SafeModeException',
      'Cannot create directory /user/alice/sm. Name node is in safe mode.\nIt was turned on manually. Use "hdfs dfsadmin -safemode leave" to turn safe mode off.',
    ]);
    expect((await call(w.namenodeUrl, '/user/alice', 'GETFILESTATUS')).status).toBe(200);
    const { first, second } = await twoStep(w.namenodeUrl, '/user/alice/sm-file', 'CREATE', 'x');
    expect([first.status, second?.status, second?.remote().message]).toEqual([
      307,
      403,
      expect.stringMatching(/^Cannot create file\/user\/alice\/sm-file\. Name node is in safe mode\./),
    ]);
    expect((await call(w.namenodeUrl, '/user/alice/sm', 'MKDIRS', { method: 'PUT' })).status).toBe(200);

    w.faults.enterSafeMode({ retriable: true });
    const retriable = await call(w.namenodeUrl, '/user/alice/sm2', 'MKDIRS', { method: 'PUT' });
    expect([retriable.status, retriable.remote().javaClassName, retriable.remote().message]).toEqual([
      403,
      'org.apache.hadoop.ipc.RetriableException',
      expect.stringMatching(
        /^org\.apache\.hadoop\.hdfs\.server\.namenode\.SafeModeException: Cannot create directory/,
      ),
    ]);
    w.faults.leaveSafeMode();
    expect((await call(w.namenodeUrl, '/user/alice/sm2', 'MKDIRS', { method: 'PUT' })).status).toBe(200);
  });

  it('exhaustSpaceQuota makes the next block fail', async () => {
    w.fs.mkdirs('/full', { owner: 'alice' });
    w.faults.exhaustSpaceQuota('/full');
    const r = await twoStep(w.namenodeUrl, '/full/f', 'CREATE', 'x');
    expect(r.second?.remote().exception).toBe('DSQuotaExceededException');
    w.fs.setQuota('/full', {});
  });

  it('delay slows each server by the given time', async () => {
    w.faults.delay({ namenode: 300, datanode: 200 });
    const started = Date.now();
    const { second } = await twoStep(w.namenodeUrl, '/user/alice/slow', 'CREATE', 'x');
    expect(second?.status).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(480);
  });
});

/** An upload whose body is sent in two parts, the second only when asked: a writer that holds its lease. */
function fetchStreaming(url: string, head: string): { finish(tail: string): Promise<Reply> } {
  const encoder = new TextEncoder();
  let push: (chunk: string | null) => void = () => undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(head));
      push = (chunk) => (chunk === null ? controller.close() : controller.enqueue(encoder.encode(chunk)));
    },
  });
  const response = fetch(url, { method: 'PUT', body, duplex: 'half' });
  return {
    async finish(tail) {
      push(tail);
      push(null);
      return reply(await response);
    },
  };
}
