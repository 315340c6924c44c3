// The HTTP endpoints answer only Host values that name this gateway, so that a page whose DNS name rebinds to
// the gateway's address cannot read /api/status from a browser. Raw requests with forged Host headers, and
// `sluice status` (as `sluice top`, through apiUrl/fetchStatus) against each kind of listen address.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { apiUrl, fetchStatus } from '../../gateway/cli/status.js';
import { parseConfig } from '../../gateway/config/load.js';
import { hostAllowed, parseHostHeader } from '../../gateway/observe/host.js';
import { ObserveServer } from '../../gateway/observe/http-server.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { observeSchema } from '../../gateway/observe/options.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { launchChromium } from '../helpers/chromium.js';
import { tempDir } from '../helpers/tmp.js';
import { freePort } from '../helpers/net.mjs';

interface Served {
  readonly gw: Gateway;
  readonly server: ObserveServer;
  readonly port: number;
  readonly file: string;
}

const running: Served[] = [];
afterAll(async () => {
  for (const r of running) {
    await r.gw.stop();
    await r.server.close();
  }
});

/** A gateway with no sources or sinks, its HTTP endpoints configured by `http` (YAML flow mapping). */
async function serve(http: string): Promise<Served> {
  const dir = tempDir('sluice-host-');
  const file = join(dir, 'sluice.yaml');
  const yaml = `gateway: { id: host-gw, data_dir: ${dir}/data }\nobserve: { http: ${http} }\n`;
  writeFileSync(file, yaml);
  const gw = await Gateway.start(parseConfig(yaml, file), { log: silentLogger });
  const server = await ObserveServer.start(gw);
  const served = { gw, server, port: Number(new URL(server.url).port), file };
  running.push(served);
  return served;
}

/** One request on a fresh connection: the status code and body. `host` null sends no Host header. */
function request(
  port: number,
  host: string | null,
  { path = '/api/status', method = 'GET', version = '1.1', to = '127.0.0.1' } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, to, () => {
      const lines = [`${method} ${path} HTTP/${version}`, ...(host === null ? [] : [`Host: ${host}`])];
      sock.write(`${[...lines, 'Connection: close'].join('\r\n')}\r\n\r\n`);
    });
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => (got += chunk));
    sock.on('error', reject);
    sock.on('end', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      if (!m) return reject(new Error(`no HTTP response: ${JSON.stringify(got.slice(0, 200))}`));
      resolve({ status: Number(m[1]), body: got.slice(got.indexOf('\r\n\r\n') + 4) });
    });
  });
}

describe('on 127.0.0.1 (the default)', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve(
      `{ listen: 127.0.0.1, port: ${await freePort()}, allowed_hosts: [gw-1.lan, 'proxy.lan:8080'] }`,
    );
  });

  test('a forged Host gets 421 with a short plain-text reason, on every endpoint and for HEAD', async () => {
    for (const path of ['/api/status', '/api/history', '/metrics', '/healthz', '/readyz', '/', '/nope']) {
      const r = await request(s.port, `rebind.attacker.example:${s.port}`, { path });
      expect(r.status, path).toBe(421);
      expect(r.body).toMatch(/^Misdirected Request: the Host header does not name this gateway/);
      expect(r.body).not.toMatch(/queue|gateway":/);
    }
    expect(await request(s.port, `evil.example:${s.port}`, { method: 'HEAD' })).toEqual({
      status: 421,
      body: '',
    });
  });

  test('the address and port it listens on, and localhost over loopback, are answered', async () => {
    for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `LocalHost:${s.port}`]) {
      const r = await request(s.port, host);
      expect(r.status, host).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ gateway: 'host-gw' });
    }
  });

  test('names that can be rebound get 421, whatever address they resolve to; malformed values too', async () => {
    for (const host of [
      `127.0.0.1.nip.io:${s.port}`, // a public name that resolves to 127.0.0.1
      `${s.port}.rebind.example`,
      `localhost.:${s.port}`,
      `sub.localhost:${s.port}`,
      `evil@127.0.0.1:${s.port}`,
      `127.0.0.1:${s.port}/x`,
      `2130706433:${s.port}`, // 127.0.0.1 as a number: no browser sends it
      '',
    ]) {
      expect((await request(s.port, host)).status, JSON.stringify(host)).toBe(421);
    }
  });

  test('IP literals and localhost are answered with any port: NAT and published container ports', async () => {
    // Docker's `127.0.0.1:19464:9464` reaches the container's own address with Host 127.0.0.1:19464.
    for (const host of ['127.0.0.1', `127.0.0.1:${s.port + 1}`, `10.1.2.3:19464`, '[::1]', 'localhost:1']) {
      expect((await request(s.port, host)).status, host).toBe(200);
    }
  });

  test('allowed_hosts: an entry without a port matches any port, one with a port only that port', async () => {
    expect((await request(s.port, 'gw-1.lan')).status).toBe(200);
    expect((await request(s.port, `GW-1.lan:${s.port}`)).status).toBe(200);
    expect((await request(s.port, 'proxy.lan:8080')).status).toBe(200);
    expect((await request(s.port, 'proxy.lan')).status).toBe(421);
    expect((await request(s.port, `proxy.lan:${s.port}`)).status).toBe(421);
    expect((await request(s.port, 'sub.gw-1.lan')).status).toBe(421);
  });

  test('no Host header: answered for HTTP/1.0 (no browser sends that); HTTP/1.1 requires one (400)', async () => {
    expect((await request(s.port, null, { version: '1.0' })).status).toBe(200);
    expect((await request(s.port, null)).status).toBe(400);
  });

  test('sluice status / top reach it through the config file', async () => {
    const url = apiUrl({ config: s.file });
    expect(url).toBe(`http://127.0.0.1:${s.port}`);
    await expect(fetchStatus(url)).resolves.toMatchObject({ gateway: 'host-gw' });
    await expect(fetchStatus(`http://localhost:${s.port}`)).resolves.toMatchObject({ gateway: 'host-gw' });
  });
});

describe('in a browser', () => {
  test("a page whose name resolves to the gateway gets 421; the gateway's own address gets the status page", async () => {
    const s = await serve(`{ listen: 127.0.0.1, port: ${await freePort()} }`);
    // The rebinding, done by the resolver: rebind.test's address is now the gateway's.
    const browser = await launchChromium(['--host-resolver-rules=MAP rebind.test 127.0.0.1']);
    try {
      const page = await browser.newPage();
      const rebound = await page.goto(`http://rebind.test:${s.port}/`);
      expect(rebound?.status()).toBe(421);
      // What a script of that origin would read with fetch('/api/status'): same origin, so no CORS to stop it.
      const read = await page.evaluate(async () => {
        const r = await fetch('/api/status');
        return { status: r.status, body: await r.text() };
      });
      expect(read.status).toBe(421);
      expect(read.body).not.toContain('host-gw');
      for (const origin of [`http://127.0.0.1:${s.port}`, `http://localhost:${s.port}`]) {
        const own = await page.goto(`${origin}/`);
        expect(own?.status(), origin).toBe(200);
        expect(await page.title()).toBe('Sluice host-gw');
      }
    } finally {
      await browser.close();
    }
  });
});

test('sluice status explains a 421: the name it used is not one the gateway knows', async () => {
  // A stand-in for a gateway reached by a name missing from its allowed_hosts (a real one needs a DNS name).
  const stub = createServer((_req, res) => {
    res.statusCode = 421;
    res.end();
  });
  await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = stub.address() as AddressInfo;
    await expect(fetchStatus(`http://127.0.0.1:${port}`)).rejects.toMatchObject({
      message: expect.stringMatching(/answered 421/),
      hint: expect.stringMatching(
        new RegExp(
          `does not know itself as 127\\.0\\.0\\.1:${port}: add that name to its observe\\.http\\.allowed_hosts`,
        ),
      ),
    });
  } finally {
    await new Promise((resolve) => stub.close(resolve));
  }
});

describe('on a wildcard address', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve(`{ listen: 0.0.0.0, port: ${await freePort('0.0.0.0')} }`);
  });

  test('its addresses are answered, a rebound name is not', async () => {
    expect((await request(s.port, `127.0.0.1:${s.port}`)).status).toBe(200);
    expect((await request(s.port, `127.0.0.2:${s.port}`, { to: '127.0.0.2' })).status).toBe(200);
    expect((await request(s.port, `rebind.example:${s.port}`, { to: '127.0.0.2' })).status).toBe(421);
  });

  test('sluice status reaches it on loopback', async () => {
    const url = apiUrl({ config: s.file });
    expect(url).toBe(`http://127.0.0.1:${s.port}`);
    await expect(fetchStatus(url)).resolves.toMatchObject({ gateway: 'host-gw' });
  });
});

describe('on ::1 and on a name', () => {
  test('[::1] and localhost are answered; sluice status gets in', async () => {
    const s = await serve(`{ listen: '::1', port: ${await freePort('::1')} }`);
    for (const host of [`[::1]:${s.port}`, `[0:0:0:0:0:0:0:1]:${s.port}`, `localhost:${s.port}`]) {
      expect((await request(s.port, host, { to: '::1' })).status, host).toBe(200);
    }
    expect((await request(s.port, `rebind.example:${s.port}`, { to: '::1' })).status).toBe(421);
    const url = apiUrl({ config: s.file });
    expect(url).toBe(`http://[::1]:${s.port}`);
    await expect(fetchStatus(url)).resolves.toMatchObject({ gateway: 'host-gw' });
  });

  test('listen: localhost is reached as localhost', async () => {
    const s = await serve(`{ listen: localhost, port: ${await freePort('localhost')} }`);
    const url = apiUrl({ config: s.file });
    expect(url).toBe(`http://localhost:${s.port}`);
    await expect(fetchStatus(url)).resolves.toMatchObject({ gateway: 'host-gw' });
  });
});

describe('the rule itself', () => {
  test('a listen address that is a name is this gateway, with any port', () => {
    const policy = { listen: 'GW.example', allowed: [] };
    expect(hostAllowed('gw.example:9464', policy)).toBe(true);
    expect(hostAllowed('gw.EXAMPLE', policy)).toBe(true);
    expect(hostAllowed('other.example:9464', policy)).toBe(false);
  });

  test('`*` accepts any Host', () => {
    expect(hostAllowed('anything.example', { listen: '0.0.0.0', allowed: ['*'] })).toBe(true);
    expect(hostAllowed('anything.example', { listen: '0.0.0.0', allowed: [] })).toBe(false);
  });

  test('parsing', () => {
    expect(parseHostHeader('[FD00::5]:9464')).toEqual({ name: 'fd00::5', port: 9464 });
    expect(parseHostHeader('Gw-1.Lan')).toEqual({ name: 'gw-1.lan', port: undefined });
    for (const bad of ['', 'a b', 'x:99999', '[nope]:1', 'http://x', '-x', 'x:', ':80']) {
      expect(parseHostHeader(bad), bad).toBeUndefined();
    }
  });

  test('allowed_hosts entries are checked in the config', () => {
    const parse = (allowed: unknown) => observeSchema.safeParse({ http: { allowed_hosts: allowed } });
    expect(parse(['gw-1.lan', '[fd00::5]:9464', '10.0.0.5', '*']).success).toBe(true);
    const bad = parse(['http://gw-1.lan:9464']);
    expect(bad.error?.issues[0]?.path).toEqual(['http', 'allowed_hosts', 0]);
    expect(bad.error?.issues[0]?.message).toMatch(/host name or IP address, optionally with :port/);
  });
});
