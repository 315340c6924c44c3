// `sluice status`: reads /api/status of a running gateway and prints a one-screen summary; an unreachable
// gateway is an error that says what to check. The address comes from --url or the config's observe.http.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { apiUrl, fetchStatus, formatStatus } from '../../gateway/cli/status.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { simToFile, startGateway, type Running } from './helpers.js';

let run: Running | undefined;
afterAll(async () => run?.stop());

test('the summary names the gateway, health, queue, each source and sink', async () => {
  run = await startGateway(simToFile({ count: 60 }));
  const url = run.server.url;
  const s = await until(() => fetchStatus(url), {
    what: 'every reading delivered',
    accept: (x) => x.components.some((c) => c.kind === 'sink' && c.sentEvents === 60),
    timeoutMs: 20_000,
    intervalMs: 50,
  });
  const lines = formatStatus(s, url);
  expect(lines[0]).toMatch(
    new RegExp(`^gateway obs-gw  up \\d+s  healthy  \\(${url.replace(/[.]/g, '\\.')}\\)$`),
  );
  expect(lines.join('\n')).toMatch(/^queue {3}\d+ readings, .* of 1\.0 GiB/m);
  expect(lines.join('\n')).toMatch(/^ {2}sim\s+simulator\s+\w+\s+in 60\s+rejected 0/m);
  expect(lines.join('\n')).toMatch(
    /^ {2}local\s+file\s+healthy\s+out 60\s+lag 0\s+oldest -\s+last ack \d+s ago/m,
  );
  expect(lines.length).toBeLessThan(25); // one screen
});

test('unreachable gateways fail with a hint; the URL comes from --url or the config', async () => {
  await expect(fetchStatus('http://127.0.0.1:9', 2000)).rejects.toThrow(
    /no gateway answers at http:\/\/127\.0\.0\.1:9/,
  );
  expect(apiUrl({ url: 'http://10.0.0.5:9464/' })).toBe('http://10.0.0.5:9464');
  const dir = tempDir();
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'gateway: { id: g }\nobserve: { http: { listen: 0.0.0.0, port: 9555 } }\n');
  expect(apiUrl({ config: file })).toBe('http://127.0.0.1:9555');
  expect(apiUrl({})).toBe('http://127.0.0.1:9464');
});
