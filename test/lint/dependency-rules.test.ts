// The floor rules of .dependency-cruiser.cjs fail when broken: each case is a small tree shaped like Sluice's
// with one import that breaks one rule (type-only where that is the subtle case), cruised with the project's
// own config. A rule that never fires would let `npm run lint` pass on any tree.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const config = join(root, '.dependency-cruiser.cjs');
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');

/** A tree that keeps every rule: the core on the bottom, features above it, the CLI on top. */
const clean: Record<string, string> = {
  'gateway/reading.ts': 'export interface Reading { readonly value: number }\n',
  'gateway/errors.ts': 'export class SluiceError extends Error {}\n',
  'gateway/metrics-spec.ts': 'export interface ComponentMetrics { sent(n: number): void }\n',
  'gateway/components.ts':
    "import type { ComponentMetrics } from './metrics-spec.js';\nimport type { Reading } from './reading.js';\n" +
    'export interface Source { metrics: ComponentMetrics; last?: Reading }\n',
  'gateway/status.ts':
    "import type { Source } from './components.js';\nexport interface GatewayStatus { sources: Source[] }\n",
  'gateway/queue/queue.ts':
    "import type { Reading } from '../reading.js';\nexport class Queue { last?: Reading }\n",
  'gateway/observe/metrics.ts':
    "import type { ComponentMetrics } from '../metrics-spec.js';\nimport type { Queue } from '../queue/queue.js';\n" +
    'export type Watched = [ComponentMetrics, Queue];\n',
  'gateway/cli/args.ts': 'export interface Command { name: string }\n',
  'gateway/cli/main.ts':
    "import type { Command } from './args.js';\nimport type { Watched } from '../observe/metrics.js';\n" +
    'export type Main = [Command, Watched];\n',
  'drivers/driver.ts':
    'export type DriverValue = number;\nexport class DriverOptionsError extends Error {}\n',
  'gateway/sources/serial/source.ts':
    "import type { DriverValue } from '../../../drivers/driver.js';\nimport type { Reading } from '../../reading.js';\n" +
    'export type Pair = [DriverValue, Reading];\n',
};

const tsconfig = JSON.stringify({
  compilerOptions: {
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    verbatimModuleSyntax: true,
  },
  include: ['gateway/**/*.ts', 'drivers/**/*.ts'],
});

/** Writes `clean` with `changes` applied into a new directory. */
function tree(changes: Record<string, string>): string {
  const dir = tempDir('sluice-depcruise-');
  for (const [path, text] of Object.entries({ ...clean, ...changes, 'tsconfig.json': tsconfig })) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** depcruise as `npm run lint:deps` runs it, in `cwd`. */
function cruise(cwd: string, ...extra: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(depcruise, ['--config', config, ...extra, 'gateway', 'drivers'], {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

/** Cruises `clean` with `changes` applied; returns the names of the rules broken. */
function brokenRules(changes: Record<string, string>): string[] {
  const r = cruise(tree(changes), '--output-type', 'json');
  expect(r.stdout, r.stderr).not.toBe('');
  const out = JSON.parse(r.stdout) as { summary: { violations: Array<{ rule: { name: string } }> } };
  return [...new Set(out.summary.violations.map((v) => v.rule.name))].sort();
}

test('a tree that keeps the floors passes', () => {
  expect(brokenRules({})).toEqual([]);
});

test('the core importing a feature, even for a type only, fails', () => {
  const components =
    "import type { Watched } from './observe/metrics.js';\nexport interface Source { watched: Watched }\n";
  expect(brokenRules({ 'gateway/components.ts': components })).toEqual(['core-knows-no-feature']);
});

test('a circle of type-only imports fails', () => {
  expect(
    brokenRules({
      'gateway/queue/queue.ts': "import type { Op } from './commit.js';\nexport class Queue { op?: Op }\n",
      'gateway/queue/commit.ts':
        "import type { Queue } from './queue.js';\nexport interface Op { q: Queue }\n",
    }),
  ).toEqual(['no-circular']);
});

test('a driver importing a gateway feature fails', () => {
  const driver = "import type { Queue } from '../gateway/queue/queue.js';\nexport type Out = Queue;\n";
  expect(brokenRules({ 'drivers/driver.ts': driver })).toEqual(['drivers-know-no-gateway']);
});

test('a driver importing the core contract, even a type or the error class, fails', () => {
  const typeOnly = "import type { Reading } from '../gateway/reading.js';\nexport type Out = Reading[];\n";
  expect(brokenRules({ 'drivers/driver.ts': typeOnly })).toEqual(['drivers-know-no-gateway']);
  const error =
    "import { SluiceError } from '../../gateway/errors.js';\nexport const fail = (): Error => new SluiceError();\n";
  expect(brokenRules({ 'drivers/shared/options.ts': error })).toEqual(['drivers-know-no-gateway']);
});

test('a feature importing the CLI fails', () => {
  const fleet = "import type { Command } from '../cli/args.js';\nexport type Push = Command;\n";
  expect(brokenRules({ 'gateway/fleet/push.ts': fleet })).toEqual(['no-feature-imports-cli']);
});

test('a broken rule makes the lint step exit non-zero, naming the rule and the import', () => {
  const r = cruise(tree({ 'gateway/fleet/push.ts': "import type { Command } from '../cli/args.js';\n" }));
  expect(r.status).not.toBe(0);
  expect(r.stdout).toContain('no-feature-imports-cli: gateway/fleet/push.ts → gateway/cli/args.ts');
});

test("Sluice's own tree keeps the floors", () => {
  const r = cruise(root);
  expect(r.status, r.stdout + r.stderr).toBe(0);
});
