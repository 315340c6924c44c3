// The error catalogue (gateway/errors.ts): every code Sluice raises has one entry with its default retriable
// flag, hint and meaning, the defaults apply unless a throw site overrides them, and no code lives elsewhere.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { SluiceError, errorCatalogue, errorCodes, toSluiceError, type ErrorCode } from '../gateway/errors.js';
import { asIngestError } from '../gateway/sources/ingest-batcher.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('the catalogue', () => {
  test('every SLUICE_ code written in gateway/ has an entry, and every entry is used', () => {
    const used = new Set<string>();
    for (const file of sources('gateway'))
      for (const m of readFileSync(file, 'utf8').matchAll(/'(SLUICE_[A-Z_]+)'/g)) used.add(m[1] as string);
    // 'SLUICE_CONFIG' is the prefix the CLI's exit code matches (SLUICE_CONFIG_*), not a code.
    expect([...used].filter((c) => !(c in errorCatalogue) && c !== 'SLUICE_CONFIG')).toEqual([]);
    expect(errorCodes.filter((c) => !used.has(c))).toEqual([]);
  });

  test('drivers raise no gateway code: their option errors are their own', () => {
    for (const file of sources('drivers')) expect(readFileSync(file, 'utf8')).not.toMatch(/'SLUICE_[A-Z_]+'/);
  });

  test.each(errorCodes)('%s: the hint says what to do in one sentence; the meaning is a sentence', (code) => {
    const { hint, means } = errorCatalogue[code];
    // Hints are lower-case instructions, like every hint a throw site writes ("check ...", "raise ...").
    expect(hint).toMatch(/^[a-z`]/);
    expect(hint).not.toMatch(/[.\n]$/);
    expect(hint.split(' ').length).toBeGreaterThanOrEqual(4);
    expect(means).toMatch(/^[A-Z].*[.]$/s);
  });

  test('a failed append the source must not acknowledge is retriable; bad input and config are not', () => {
    const retriable = errorCodes.filter((c) => errorCatalogue[c].retriable);
    expect(retriable.sort()).toEqual(
      [
        'SLUICE_QUEUE_CLOSED',
        'SLUICE_QUEUE_FULL',
        'SLUICE_QUEUE_IO',
        'SLUICE_SINK_WRITE',
        'SLUICE_UPSTREAM_UNREACHABLE',
      ].sort(),
    );
  });
});

describe('SluiceError', () => {
  test.each(errorCodes)('%s: takes its default flag and hint from the catalogue', (code: ErrorCode) => {
    const e = new SluiceError(code, 'it broke');
    expect({ retriable: e.retriable, hint: e.hint }).toEqual({
      retriable: errorCatalogue[code].retriable,
      hint: errorCatalogue[code].hint,
    });
    expect(e.explain()).toBe(`${code}: it broke\n  hint: ${errorCatalogue[code].hint}`);
  });

  test('a throw site overrides the flag and the hint; the message and code stay as given', () => {
    const e = new SluiceError('SLUICE_AUTH', 'cannot read the token file', {
      retriable: true,
      hint: 'write a token there',
    });
    expect(e.toJSON()).toEqual({
      code: 'SLUICE_AUTH',
      message: 'cannot read the token file',
      retriable: true,
      hint: 'write a token there',
    });
  });

  test('toSluiceError keeps a SluiceError as it is and wraps anything else with the defaults', () => {
    const own = new SluiceError('SLUICE_QUEUE_FULL', 'full');
    expect(toSluiceError(own, 'SLUICE_SINK_WRITE', 'writing failed')).toBe(own);
    const wrapped = toSluiceError(new Error('EIO'), 'SLUICE_SINK_WRITE', 'writing to /out failed');
    expect(wrapped).toMatchObject({
      code: 'SLUICE_SINK_WRITE',
      message: 'writing to /out failed: EIO',
      retriable: true,
    });
    const boot = toSluiceError('EACCES', 'SLUICE_QUEUE_IO', 'cannot open the queue', { retriable: false });
    expect(boot).toMatchObject({ message: 'cannot open the queue: EACCES', retriable: false });
  });

  test('an append that failed for a reason that is no SluiceError is retriable queue I/O: never acknowledged', () => {
    expect(asIngestError(undefined)).toMatchObject({ code: 'SLUICE_QUEUE_IO', retriable: true });
    expect(asIngestError(new Error('EIO'))).toMatchObject({
      message: 'the readings could not be queued: EIO',
      retriable: true,
    });
  });
});
