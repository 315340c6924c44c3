import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { sluice } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

test('--help lists the commands; every command has --help', () => {
  const r = sluice(['--help']);
  expect(r.code).toBe(0);
  for (const c of ['run', 'check', 'config schema', 'queue stats']) expect(r.stdout).toContain(c);
  const sub = sluice(['queue', 'stats', '--help']);
  expect(sub.code).toBe(0);
  expect(sub.stdout).toContain('Usage: sluice queue stats');
});

test('an unknown command or option exits 2 with a message saying what to do', () => {
  const r = sluice(['frobnicate']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('SLUICE_USAGE: unknown command');
  expect(r.stderr).toContain('hint:');
  expect(sluice(['check', '--bogus', 'x']).code).toBe(2);
});

test('check: exit 0 with an explanation for a valid file, 2 with file:line for an invalid one', () => {
  const ok = sluice(['check', 'deploy/config/demo.yaml']);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain('valid');
  expect(ok.stdout).toContain('source sim (simulator)');
  const dir = tempDir();
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'gateway:\n  id: gw\nqueue:\n  on_ful: reject_new\n');
  const r = sluice(['check', bad]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`${bad}:4: queue.on_ful: unknown option "on_ful"; did you mean "on_full"?`);
});

test('config schema prints a JSON Schema', () => {
  const r = sluice(['config', 'schema']);
  expect(r.code).toBe(0);
  const schema = JSON.parse(r.stdout) as { $schema: string; properties: Record<string, unknown> };
  expect(schema.$schema).toContain('json-schema.org');
  expect(Object.keys(schema.properties)).toEqual(
    expect.arrayContaining(['gateway', 'queue', 'sources', 'sinks']),
  );
});

test('queue stats on a missing data directory fails clearly', () => {
  const r = sluice(['queue', 'stats', '-d', '/nonexistent-sluice']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('no queue in /nonexistent-sluice/queue');
});

test('queue dead-letters lists what an upstream refused, with the reason', async () => {
  const { Queue } = await import('../../gateway/queue/queue.js');
  const { readings } = await import('../helpers/readings.js');
  const dataDir = tempDir();
  const q = Queue.open({ dir: join(dataDir, 'queue'), maxBytes: 1 << 30, onFull: 'reject_new' });
  await q.openCursor('kafka', 'oldest');
  await q.append(readings(3));
  await q.ack('kafka', 3, [{ seq: 2, code: 'SLUICE_SINK_REJECTED', message: 'MESSAGE_TOO_LARGE' }]);
  await q.close();
  const r = sluice(['queue', 'dead-letters', 'kafka', '-d', dataDir]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/seq 2 .* SLUICE_SINK_REJECTED: MESSAGE_TOO_LARGE/);
  expect(sluice(['queue', 'dead-letters', 'other', '-d', dataDir]).stdout).toContain(
    'no dead letters for other',
  );
});

test('queue drop-cursor forgets a removed sink on a stopped gateway; stats without a config omit the limits', async () => {
  const { Queue } = await import('../../gateway/queue/queue.js');
  const { readings } = await import('../helpers/readings.js');
  const dataDir = tempDir();
  const q = Queue.open({ dir: join(dataDir, 'queue'), maxBytes: 1 << 30, onFull: 'reject_new' });
  await q.openCursor('gone', 'oldest');
  await q.openCursor('kept', 'oldest');
  await q.append(readings(2));
  await q.close();
  const r = sluice(['queue', 'drop-cursor', 'gone', '-d', dataDir]);
  expect(r.code, r.stderr).toBe(0);
  expect(sluice(['queue', 'drop-cursor', 'gone', '-d', dataDir]).stderr).toContain('SLUICE_CURSOR_UNKNOWN');
  const stats = JSON.parse(sluice(['queue', 'stats', '-d', dataDir, '--json']).stdout) as Record<
    string,
    unknown
  >;
  expect(stats.cursors).toMatchObject([{ name: 'kept', lag: 2 }]);
  expect(stats).not.toHaveProperty('maxBytes');
});
