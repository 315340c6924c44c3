// The demo (deploy/config/demo.yaml) under the emulated Node: it starts, its simulated sensors' readings
// reach the queue (the metrics say so), /api/status answers, SIGTERM stops it with exit 0, and the file
// sink's output holds readings. The config is the demo's with a free metrics port, run in a temp directory
// (its data_dir is relative), so it neither collides with another gateway nor writes into the checkout.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { SetupError } from '../setup/lib.mjs';
import { freePort } from '../helpers/net.mjs';
import { until } from '../helpers/wait.mjs';
import { cleanEnv } from './tools.mjs';

/** Sum of a Prometheus counter's samples whose labels contain `match`. */
function counter(text, name, match) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(match))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function get(port, path) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return res.text();
}

function lines(dir) {
  let count = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      count += readFileSync(join(entry.parentPath, entry.name), 'utf8').split('\n').filter(Boolean).length;
  }
  return count;
}

/**
 * @param {{ tree: string, emu: { node: string, env: Record<string, string> }, timeoutMs: number }} options
 * @returns {Promise<string>} the times, for the summary
 */
export async function runDemo({ tree, emu, timeoutMs }) {
  const work = mkdtempSync(join(tmpdir(), 'sluice-arm-demo-'));
  const port = await freePort();
  const config = join(work, 'demo.yaml');
  const demo = readFileSync(join(tree, 'deploy', 'config', 'demo.yaml'), 'utf8');
  writeFileSync(config, `${demo}observe:\n  http:\n    port: ${port}\n`);
  const started = performance.now();
  const child = spawn(emu.node, [join(tree, 'dist', 'gateway', 'cli', 'main.js'), 'run', '-c', config], {
    cwd: work,
    env: cleanEnv(emu.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d) => (output = (output + d).slice(-20_000));
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  let exit;
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve((exit = { code, signal }))),
  );
  const fail = (what, err) =>
    new SetupError('ARM_DEMO', `the demo ${what}`, {
      detail: `    ${err?.message ?? ''}\n${output.slice(-3000)}`,
    });
  try {
    const abort = () => (exit ? new Error(`it exited (${exit.code ?? exit.signal})`) : undefined);
    await until(() => get(port, '/metrics'), {
      timeoutMs,
      intervalMs: 250,
      abort,
      what: 'the demo serving /metrics',
    }).catch((err) => {
      throw fail('did not serve /metrics', err);
    });
    const up = performance.now() - started;
    const queued = await until(
      async () =>
        counter(await get(port, '/metrics'), 'sluice_component_sent_events_total', 'component_kind="source"'),
      {
        timeoutMs,
        intervalMs: 250,
        abort,
        accept: (n) => n >= 6,
        what: 'six simulated readings in the queue',
      },
    ).catch((err) => {
      throw fail('did not queue readings', err);
    });
    const status = JSON.parse(await get(port, '/api/status'));
    if (typeof status !== 'object' || status === null) throw fail('gave no /api/status object');
    const stopAt = performance.now();
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited, new Promise((r) => setTimeout(r, timeoutMs, undefined))]);
    if (stopped === undefined) throw fail(`did not stop within ${timeoutMs} ms of SIGTERM`);
    if (stopped.code !== 0) throw fail(`exited with ${stopped.code ?? stopped.signal} on SIGTERM`);
    const stop = performance.now() - stopAt;
    const written = lines(join(work, 'data', 'demo', 'out'));
    if (written === 0) throw fail('stopped with no reading in the file sink output');
    return `up (serving /metrics) in ${(up / 1000).toFixed(1)} s, ${queued} readings queued, SIGTERM to exit 0 in ${(stop / 1000).toFixed(1)} s, ${written} readings in data/demo/out`;
  } finally {
    if (!exit) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
  }
}
