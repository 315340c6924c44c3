// The configuration reference in README.md is what `sluice config docs` generates from the schema now:
// when an option or its description changes, this fails until `sluice config docs --readme README.md`.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import {
  BEGIN_MARKER,
  ERRORS_BEGIN_MARKER,
  ERRORS_END_MARKER,
  configReference,
  errorReference,
  replaceReference,
} from '../../gateway/cli/docs.js';
import { errorCodes } from '../../gateway/errors.js';

const readmePath = fileURLToPath(new URL('../../README.md', import.meta.url));

test('README.md holds the current generated config reference', () => {
  const readme = readFileSync(readmePath, 'utf8');
  expect(readme).toContain(BEGIN_MARKER);
  const fresh = replaceReference(readme, configReference());
  // On failure: node dist/gateway/cli/main.js config docs --readme README.md (after npm run build).
  expect(
    readme === fresh,
    'README config reference is stale: run `sluice config docs --readme README.md`',
  ).toBe(true);
});

test('the reference covers every top-level option and every component type', () => {
  const ref = configReference();
  for (const s of [
    '`gateway.id`',
    '`queue.max_bytes`',
    '`observe.http.port`',
    '`observe.health.stall_after_ms`',
  ])
    expect(ref).toContain(s);
  for (const t of ['simulator', 'file']) expect(ref).toContain(`with \`type: ${t}\``);
  expect(ref).toMatch(/\| `gateway\.id` \| string \| \*\*required\*\* \|/);
});

test('README.md holds the current error-code table, generated from the catalogue', () => {
  const readme = readFileSync(readmePath, 'utf8');
  expect(readme).toContain(ERRORS_BEGIN_MARKER);
  const fresh = replaceReference(readme, errorReference(), 'README.md', [
    ERRORS_BEGIN_MARKER,
    ERRORS_END_MARKER,
  ]);
  expect(readme === fresh, 'README error codes are stale: run `sluice config docs --readme README.md`').toBe(
    true,
  );
});

test('the error-code table lists every code once, with its flag', () => {
  const table = errorReference();
  for (const code of errorCodes) expect(table.split(`| \`${code}\` |`).length).toBe(2);
  expect(table).toContain('| `SLUICE_QUEUE_IO` | yes |');
  expect(table).toContain('| `SLUICE_CONFIG_INVALID` | no |');
});
