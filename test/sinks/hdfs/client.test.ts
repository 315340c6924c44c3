// The WebHDFS client tells "no such path" (Hadoop's FileNotFoundException) from a NameNode whose WebHDFS is
// not up yet (a bare 404 from Jetty while it starts, seen on a real NameNode restart).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { WebHdfsClient } from '../../../gateway/sinks/hdfs/client.js';

let url = '';
const server = createServer((req, res) => {
  if (req.url?.startsWith('/webhdfs/v1/missing')) {
    const body = JSON.stringify({
      RemoteException: {
        exception: 'FileNotFoundException',
        javaClassName: 'java.io.FileNotFoundException',
        message: 'File does not exist: /missing',
      },
    });
    res.writeHead(404, { 'content-type': 'application/json' }).end(body);
  } else res.writeHead(404).end();
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

test('FileNotFoundException is "not there"; a bare 404 is a retriable error, not an empty answer', async () => {
  const client = new WebHdfsClient({
    namenodes: [url],
    auth: () => ({ 'user.name': 'u' }),
    requestTimeoutMs: 2_000,
  });
  try {
    expect(await client.status('/missing')).toBeUndefined();
    expect(await client.list('/missing')).toBeUndefined();
    await expect(client.status('/starting')).rejects.toMatchObject({ retriable: true, status: 404 });
    await expect(client.list('/starting')).rejects.toMatchObject({ retriable: true, status: 404 });
  } finally {
    client.close();
  }
});
