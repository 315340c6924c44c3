// The status page in headless Chromium: it shows the gateway, its sources and sinks, the queue-depth chart
// (inline SVG) and the errors, loads nothing from anywhere but the gateway, and is saved as a screenshot
// (set SLUICE_SCREENSHOT_DIR to keep it). Chromium is required: the test fails with the install line.
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';
import { simToFile, startGateway, type Running } from './helpers.js';

let run: Running | undefined;
afterAll(async () => run?.stop());

test('the status page shows sources, sinks, the depth chart and errors, with no external assets', async () => {
  // A slow sink (long linger) so the queue holds something and the chart has a shape.
  run = await startGateway(
    simToFile({ count: 0, intervalMs: 20 }).replace(
      'batch: { linger_ms: 10 }',
      'batch: { max_count: 50, linger_ms: 300 }',
    ),
  );
  const { url } = run.server;
  await until(() => run!.server.history.samples().length, {
    what: 'a few history samples',
    accept: (n) => n >= 15,
    timeoutMs: 20_000,
    intervalMs: 50,
  });

  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const res = await page.goto(url, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(await page.title()).toBe('Sluice obs-gw');
    expect(await page.textContent('#gateway-id')).toBe('obs-gw');
    expect(await page.textContent('#health')).toContain('healthy');
    const tables = await page.locator('table').allTextContents();
    expect(tables[0]).toMatch(/sim\s*simulator\s*healthy/);
    expect(tables[1]).toMatch(/local\s*file\s*healthy/);
    // The chart: an inline SVG with one line through the samples.
    const points = (await page.locator('#depth-chart polyline').getAttribute('points')) ?? '';
    expect(points.split(' ').length).toBeGreaterThanOrEqual(15);
    const box = await page.locator('#depth-chart').boundingBox();
    expect(box?.width).toBeGreaterThan(600);
    expect(requests.every((r) => r.startsWith(url))).toBe(true);

    const dir = process.env.SLUICE_SCREENSHOT_DIR ?? tempDir('sluice-page-');
    mkdirSync(dir, { recursive: true });
    const shot = join(dir, 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
  } finally {
    await browser.close();
  }
});
