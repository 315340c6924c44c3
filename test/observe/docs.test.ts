// The configuration reference in README.md is what `sluice config docs` generates from the schema now:
// when an option or its description changes, this fails until `sluice config docs --readme README.md`.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { BEGIN_MARKER, configReference, replaceReference } from '../../gateway/cli/docs.js';

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
