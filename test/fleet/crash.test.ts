// SIGKILL at any moment of the apply path leaves a state the gateway starts from, with a valid config and
// nothing committed forgotten; and a config that crashes the gateway at boot is abandoned after
// max_boot_attempts starts, for the last known good one.
import { spawn } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, test } from 'vitest';
import { FleetStore } from '../../gateway/fleet/store.js';
import { tempDir } from '../helpers/tmp.js';
import { fileSink, operator, sim, writeLocal } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const child = join(root, 'test/fixtures/fleet-apply-child.mjs');
const ROUNDS = 12;

beforeAll(() => {
  // The child runs dist/: refuse to test stale output rather than pass on old code.
  for (const f of ['agent', 'store', 'managed', 'bundle']) {
    const src = statSync(join(root, `gateway/fleet/${f}.ts`)).mtimeMs;
    const built = statSync(join(root, `dist/gateway/fleet/${f}.js`), { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (built < src)
      throw new Error(`dist/ is older than gateway/fleet/${f}.ts: run \`npm run build\` first`);
  }
});

interface Run {
  readonly out: string;
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
}

function run(
  args: string[],
  killAfterMs: number | undefined,
  env: Record<string, string> = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      // The kill is timed from the end of the first apply, not from the start: on a loaded machine the first
      // apply alone can outlast the whole random delay, and a kill before it proves little.
      const first = !/^(not )?committed /m.test(out);
      out += d;
      if (first && /^(not )?committed /m.test(out) && killAfterMs !== undefined)
        setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => resolve({ out, signal, code }));
  });
}

function ready(out: string): { applied: number; highest: number; path: string } {
  const m = /^ready (\d+) (\d+) (\S*)/m.exec(out);
  if (!m) throw new Error(`the child did not start:\n${out.slice(-2000)}`);
  return { applied: Number(m[1]), highest: Number(m[2]), path: m[3] ?? '' };
}

function setup(): { dir: string; file: string; key: string } {
  const op = operator('ops');
  const dir = tempDir();
  const key = join(dir, 'ops.key');
  writeFileSync(key, op.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const file = writeLocal({
    id: 'gw-crash',
    dir,
    op,
    labels: ['all'],
    graceMs: 20,
    maxBootAttempts: 3,
    pipeline: { sources: { sim: sim(5) }, sinks: { out: fileSink(join(dir, 'local')) } },
  });
  return { dir, file, key };
}

test(`SIGKILL during apply, ${ROUNDS} rounds: every start has a valid config, and no commit is forgotten`, async () => {
  const { dir, file, key } = setup();
  let committed = 0;
  let applies = 0;
  // A round counts once its kill landed after at least one apply: on a loaded machine a kill can come before
  // the child got that far, and such a round proves less (it is still checked, up to 3x the rounds).
  let rounds = 0;
  let attempts = 0;
  for (; rounds < ROUNDS && attempts < 3 * ROUNDS; attempts++) {
    const r = await run([file, key, join(dir, 'out')], 30 + Math.floor(Math.random() * 400));
    expect(r.signal).toBe('SIGKILL');
    const started = ready(r.out);
    // Started with what was committed before (or a later bundle it was verifying): never older.
    expect(started.applied).toBeGreaterThanOrEqual(committed);
    expect(started.highest).toBeGreaterThanOrEqual(committed);
    const appliesBefore = applies;
    for (const m of r.out.matchAll(/^committed (\d+)$/gm)) {
      committed = Math.max(committed, Number(m[1]));
      applies++;
    }
    if (applies > appliesBefore) rounds++;
    // The state file is whole after every kill: it parses, and no temp file is left to confuse a start.
    const store = FleetStore.open(join(dir, 'data', 'fleet'));
    expect(store.recovered).toBeUndefined();
    expect(store.state.highest_version).toBeGreaterThanOrEqual(committed);
    expect(store.state.good?.version ?? 0).toBeGreaterThanOrEqual(committed);
    // A kill before the first state write (round one, on a loaded machine) leaves no file yet; never a temp.
    const files = readdirSync(join(dir, 'data', 'fleet'));
    expect(files.filter((f) => f !== 'state.json')).toEqual([]);
    if (committed > 0) expect(files).toEqual(['state.json']);
  }
  expect(rounds, `${attempts} kills, ${applies} applies`).toBe(ROUNDS); // the kills landed among many applies
  expect(applies).toBeGreaterThan(ROUNDS);
  const last = await run([file, key, join(dir, 'out')], undefined, { NO_PUSH: '1' });
  expect(last.code).toBe(0);
  expect(ready(last.out).applied).toBeGreaterThanOrEqual(committed);
}, 240_000);

test('a config that crashes the gateway at boot is abandoned after max_boot_attempts starts', async () => {
  const { dir, file, key } = setup();
  const store = FleetStore.open(join(dir, 'data', 'fleet'));
  const good = { version: 1, digest: 'g', config: { sinks: { out: fileSink(join(dir, 'good')) } }, at_ms: 1 };
  const crashy = {
    version: 2,
    digest: 'c',
    config: { sinks: { out: fileSink(join(dir, 'crashy')) } },
    at_ms: 2,
  };
  await store.update((s) => ({ ...s, highest_version: 2, good, pending: { ...crashy, boots: 0 } }));
  const env = { CRASH_ON: 'crashy', NO_PUSH: '1' };
  for (let attempt = 1; attempt <= 3; attempt++) {
    const r = await run([file, key, join(dir, 'out')], undefined, env);
    expect(r.signal).toBe('SIGKILL');
    expect(ready(r.out).path).toBe(join(dir, 'crashy'));
  }
  const r = await run([file, key, join(dir, 'out')], undefined, env);
  expect(r.code).toBe(0);
  expect(ready(r.out)).toMatchObject({ applied: 1, path: join(dir, 'good') });
  const after = FleetStore.open(join(dir, 'data', 'fleet')).state;
  expect(after.pending).toBeNull();
  expect(after.last_result).toMatchObject({ version: 2, outcome: 'rolled_back', reason: 'boot_failed' });
}, 60_000);
