// Node's own process warnings reach the gateway's JSON log, not stderr as text: `sluice run` with a module
// preloaded that emits the same warning three times on SIGUSR2, sent once the gateway is up; stdout is JSON lines only and
// holds the warning once (the rest counted), stderr holds none of it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { cliPath } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.mjs';

test("a process warning is a JSON log line (rate-limited), never Node's text on stderr", async () => {
  const dir = tempDir();
  const config = join(dir, 'gw.yaml');
  writeFileSync(
    config,
    `gateway: { id: warn-test, data_dir: ${dir}/data }\nsources:\n  sim: { type: simulator, devices: 1, interval_ms: 50 }\nsinks:\n  local: { type: file, path: ${dir}/out }\n`,
  );
  const preload = join(dir, 'warn.mjs');
  // On SIGUSR2, which the test sends once the gateway has logged its start.
  writeFileSync(
    preload,
    `process.on('SIGUSR2', () => { for (let i = 0; i < 3; i++) process.emitWarning('a test warning', { type: 'TestWarning', code: 'TEST_W' }); });\n`,
  );
  const child = spawn(process.execPath, ['--import', preload, cliPath, 'run', '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await until(() => stdout.includes('"msg":"gateway started"'), {
      timeoutMs: 20_000,
      what: 'the gateway started',
      state: () => ({ stdout, stderr }),
    });
    child.kill('SIGUSR2');
    await until(() => stdout.includes('"warning":"TestWarning"'), {
      timeoutMs: 20_000,
      what: 'the warning in the log',
      state: () => ({ stdout, stderr }),
    });
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    child.kill('SIGTERM');
  }
  await once(child, 'exit');
  expect(stderr).not.toContain('TestWarning');
  const lines = stdout.trim().split('\n');
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const warnings = parsed.filter((l) => l.warning === 'TestWarning');
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({ level: 'warn', code: 'TEST_W', msg: 'a test warning', suppressed: 0 });
});
