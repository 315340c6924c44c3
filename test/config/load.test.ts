import { readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { closest, loadConfigFile, parseConfig } from '../../gateway/config/load.js';
import { jsonSchema } from '../../gateway/config/schema.js';
import { problems } from './helpers.js';

const minimal = 'gateway:\n  id: gw1\n';

describe('valid configs', () => {
  test('defaults come from the schema and the result is frozen', () => {
    const c = parseConfig(minimal);
    expect(c.queue).toEqual({
      max_bytes: 1024 ** 3,
      on_full: 'drop_oldest',
      commit_mode: 'auto',
      commit_delay_ms: 0,
    });
    expect(c.gateway.data_dir).toBe('./data');
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.queue)).toBe(true);
  });

  test('sizes accept units', () => {
    expect(parseConfig(`${minimal}queue:\n  max_bytes: 512MiB\n`).queue.max_bytes).toBe(512 * 1024 * 1024);
    expect(parseConfig(`${minimal}queue:\n  max_bytes: 2GB\n`).queue.max_bytes).toBe(2e9);
  });

  test('component defaults are applied per type', () => {
    const c = parseConfig(`${minimal}sinks:\n  out:\n    type: file\n    path: /tmp/x\n`);
    expect(c.sinks.out).toMatchObject({
      type: 'file',
      start_from: 'tail',
      batch: { max_count: 500, linger_ms: 200 },
      retry: { initial_ms: 200 },
    });
  });

  test('every example config in deploy/config is valid', () => {
    const dir = new URL('../../deploy/config/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(() => loadConfigFile(new URL(f, dir).pathname), f).not.toThrow();
  });
});

describe('errors name the file, line, path and what was expected', () => {
  test('an unknown key gets a suggestion and its line', () => {
    const msg = problems(`${minimal}queue:\n  max_byte: 10\n`);
    expect(msg).toContain(
      'test.yaml:4: queue.max_byte: unknown option "max_byte"; did you mean "max_bytes"?',
    );
  });

  test('an unknown key inside a component is checked against that component type', () => {
    const msg = problems(`${minimal}sinks:\n  out:\n    type: file\n    path: /x\n    roll_interval: 5\n`);
    expect(msg).toMatch(
      /test\.yaml:7: sinks\.out\.roll_interval: unknown option "roll_interval"; did you mean "roll_interval_ms"\?/,
    );
  });

  test('an unknown component type lists the known ones', () => {
    expect(problems(`${minimal}sources:\n  s:\n    type: modbuss\n`)).toMatch(
      /sources\.s\.type: unknown type "modbuss"; one of: simulator/,
    );
  });

  test('a wrong value type and a bad enum are explained', () => {
    const msg = problems(`${minimal}queue:\n  on_full: explode\n  max_bytes: lots\n`);
    expect(msg).toContain('queue.on_full');
    expect(msg).toContain('queue.max_bytes');
  });

  test('a missing gateway id, bad YAML and a missing file have clear errors', () => {
    expect(problems('queue: {}\n')).toContain('gateway');
    expect(problems('gateway:\n  id: [\n')).toContain('YAML');
    expect(() => loadConfigFile('/nonexistent/sluice.yaml')).toThrow(
      /SLUICE_CONFIG_READ|cannot read config file/,
    );
  });

  test('ids must be safe for file names and topics', () => {
    expect(problems('gateway:\n  id: "a/b"\n')).toContain('gateway.id');
  });
});

test('closest() suggests only near misses', () => {
  expect(closest('linger', ['linger_ms', 'max_count'])).toBe('linger_ms');
  expect(closest('zzz', ['linger_ms'])).toBeUndefined();
});

test('the JSON Schema describes every component type', () => {
  const text = JSON.stringify(jsonSchema());
  expect(text).toContain('"simulator"');
  expect(text).toContain('"file"');
  expect(text).toContain('max_bytes');
});
