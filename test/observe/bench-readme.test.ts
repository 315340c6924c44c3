// The README's performance section is what test/bench/report.mjs generates from the committed
// docs/bench/results.json: when a figure there (or the generator) changes, this fails until
// `node test/bench/run.mjs --readme README.md` (which also redraws docs/bench/*.svg). It lives here, beside
// the config reference's test, because vitest leaves test/bench/ (the benches) out.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { writeCharts } from '../bench/charts.mjs';
import { BEGIN_MARKER, readmeSection, replaceSection, resultsMarkdown } from '../bench/report.mjs';

const readmePath = fileURLToPath(new URL('../../README.md', import.meta.url));
const docsDir = fileURLToPath(new URL('../../docs/bench/', import.meta.url));

test('README.md holds the performance section generated from docs/bench/results.json', () => {
  const readme = readFileSync(readmePath, 'utf8');
  expect(readme).toContain(BEGIN_MARKER);
  const results: unknown = JSON.parse(readFileSync(join(docsDir, 'results.json'), 'utf8'));
  const fresh = replaceSection(readme, readmeSection(results));
  expect(
    readme === fresh,
    'README performance section is stale: run `node test/bench/run.mjs --readme README.md`',
  ).toBe(true);
});

test('every chart the section shows is in docs/bench/', () => {
  const readme = readFileSync(readmePath, 'utf8');
  const charts = [...readme.matchAll(/\]\((docs\/bench\/[^)]+\.svg)\)/g)].map((m) => m[1]!);
  expect(charts.length).toBeGreaterThan(0);
  for (const c of charts)
    expect(existsSync(fileURLToPath(new URL(`../../${c}`, import.meta.url))), c).toBe(true);
});

const run = (benches: unknown[]) => ({
  startedAt: '2026-01-01T00:00:00.000Z',
  mode: 'quick',
  node: 'v20.0.0',
  machine: { cpus: 2, model: 'cpu', memGiB: 1, os: 'Linux', loadavgStart: [3, 2, 1], loadavgEnd: [4, 3, 2] },
  benches,
});

test('a goal not met, a failed bench and the load average show in the Markdown', () => {
  const results = run([
    {
      name: 'a',
      command: 'node test/bench/a.mjs 5',
      status: 'ok',
      seconds: 1,
      result: {
        machine: { loadavg: [3.5, 2, 1] },
        figures: [
          {
            key: 'r',
            label: 'rate',
            value: 1500,
            unit: 'msgs/s',
            runs: [1000, 1500, 2000],
            range: [1000, 2000],
          },
        ],
        goals: [{ label: 'a >= 0.9x b', value: 0.5, op: '>=', target: 0.9, met: false }],
      },
    },
    {
      name: 'b',
      command: 'node test/bench/b.mjs',
      status: 'failed',
      exitCode: 3,
      seconds: 1,
      stderrTail: 'Error: boom\n',
    },
  ]);
  const section = readmeSection(results);
  expect(section).toContain('| rate | 1,500 | 1,000 .. 2,000 | 3 | msgs/s |');
  expect(section).toContain('| a >= 0.9x b | 0.50 | >= 0.90 | **NOT MET** |');
  expect(section).toContain('**FAILED** (exit 3): Error: boom');
  expect(section).toContain('3.00, 2.00, 1.00 at the start');
  expect(section).toMatch(/shared with other work \(1-minute load average up to 3\.50 on 2 cores/);
  expect(resultsMarkdown(results)).toContain('`node test/bench/a.mjs 5`');
  expect(() => replaceSection('# no markers\n', section)).toThrow(/no bench markers/);
});

test('charts are drawn from series as SVG; a chart without data is skipped with a note', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-charts-'));
  try {
    const series = {
      'throughput:sluice': [
        { x: 8, y: 1000, shape: '8x32' },
        { x: 32, y: 1500, shape: '32x32' },
      ],
      'puback_p50:sluice': [{ x: 8, y: 2 }],
      'puback_p99:sluice': [{ x: 8, y: 9 }],
    };
    const done = await writeCharts(run([{ name: 'mqtt-ingest', status: 'ok', result: { series } }]), dir);
    expect(done.filter((c) => c.file).map((c) => c.file)).toEqual([
      'throughput-vs-publishers.svg',
      'latency-percentiles.svg',
    ]);
    expect(done.find((c) => c.skipped)?.skipped).toMatch(/no backlog:<what> series/);
    expect(readdirSync(dir).sort()).toEqual(['latency-percentiles.svg', 'throughput-vs-publishers.svg']);
    expect(readFileSync(join(dir, 'throughput-vs-publishers.svg'), 'utf8')).toMatch(/^<svg[^>]*>.*sluice/s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
