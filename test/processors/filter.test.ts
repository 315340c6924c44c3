// The CEL filter: keeps what the expression selects over every reading field, refuses a bad expression at
// load with its position, and counts a runtime type error instead of crashing, keeping or dropping as told.
import { expect, test } from 'vitest';
import { parseConfig } from '../../gateway/config/load.js';
import { isSluiceError } from '../../gateway/errors.js';
import { chainOf, r, run } from './helpers.js';

test('keeps the readings the expression is true for, over device, metric, value, unit, tags, ts and source', () => {
  const input = [
    r({ value: 25 }),
    r({ value: 15 }),
    r({ metric: 'humidity', value: 90 }),
    r({ device: 'd2', value: 30, tags: { site: 'a' } }),
    r({ value: 'hot' }),
  ];
  expect(run({ type: 'filter', expr: 'value > 20.0' }, input.slice(0, 3)).map((x) => x.value)).toEqual([
    25, 90,
  ]);
  expect(run({ type: 'filter', expr: "metric == 'humidity'" }, input)).toHaveLength(1);
  expect(run({ type: 'filter', expr: "'site' in tags && tags.site == 'a'" }, input)).toEqual([input[3]]);
  expect(run({ type: 'filter', expr: "device.startsWith('d2')" }, input)).toEqual([input[3]]);
  expect(run({ type: 'filter', expr: "unit == 'C' && source == 'mqtt'" }, input)).toHaveLength(5);
  expect(run({ type: 'filter', expr: 'ts >= 1700000000000' }, input)).toHaveLength(5);
  expect(run({ type: 'filter', expr: "unit == ''" }, [r({ unit: undefined })])).toHaveLength(1);
  expect(
    run({ type: 'filter', expr: 'value.lat > 50.0' }, [r({ value: { lat: 52.5, lon: 13.4 } })]),
  ).toHaveLength(1);
});

test('counts the dropped readings as filtered and passes the kept ones unchanged', () => {
  const { chain, counts } = chainOf([{ type: 'filter', expr: 'value > 20.0' }]);
  const a = r({ value: 21 });
  const { kept, dropped } = chain.run([a, r({ value: 1 }), r({ value: 2 })]);
  expect(kept[0]).toBe(a);
  expect(dropped).toBe(2);
  expect(counts.get('1-filter')).toEqual({ in: 3, out: 1, dropped: { filtered: 2 }, errors: {} });
});

test('a type error at run time is counted by reason, and on_error keeps (default) or drops the reading', () => {
  const input = [r({ value: 'not a number' }), r({ value: 30 })];
  const keep = chainOf([{ type: 'filter', expr: 'value > 20.0' }]);
  expect(keep.chain.run(input).kept).toEqual(input);
  expect(keep.counts.get('1-filter')?.errors).toEqual({ eval_error: 1 });
  expect(keep.errors[0]).toMatch(/no matching overload/);
  const drop = chainOf([{ type: 'filter', expr: 'value > 20.0', on_error: 'drop', name: 'hot' }]);
  expect(drop.chain.run(input).kept).toEqual([input[1]]);
  expect(drop.counts.get('hot')).toEqual({ in: 2, out: 1, dropped: { error: 1 }, errors: { eval_error: 1 } });
  // A missing tag and a non-bool result are errors too, never a crash.
  const missing = chainOf([{ type: 'filter', expr: "tags.site == 'a'" }]);
  expect(missing.chain.run([r()]).kept).toHaveLength(1);
  expect(missing.counts.get('1-filter')?.errors).toEqual({ eval_error: 1 });
  const notBool = chainOf([{ type: 'filter', expr: 'value + 1.0' }]);
  notBool.chain.run([r()]);
  expect(notBool.counts.get('1-filter')?.errors).toEqual({ not_bool: 1 });
});

function configError(yaml: string): string {
  try {
    parseConfig(yaml, 'edge.yaml');
  } catch (err) {
    if (isSluiceError(err) && err.code === 'SLUICE_CONFIG_INVALID') return err.message;
    throw err;
  }
  throw new Error('the config was accepted');
}

test('an expression that does not compile is SLUICE_CONFIG_INVALID with the file, its line and the position in the expression', () => {
  const head = 'gateway:\n  id: gw\nsources:\n  sim:\n    type: simulator\n    processors:\n';
  const syntax = configError(
    `${head}      - type: scale\n      - type: filter\n        expr: "value > && 3"\n`,
  );
  expect(syntax).toMatch(
    /edge\.yaml:9: sources\.sim\.processors\.1\.expr: CEL does not compile at line 1, column 7 of the expression: found >/,
  );
  const unknown = configError(
    `${head}      - type: filter\n        expr: |\n          metric == 'x' &&\n            vaule > 3.0\n`,
  );
  expect(unknown).toMatch(
    /edge\.yaml:8: sources\.sim\.processors\.0\.expr: .*line 2, column 3 .*unknown name "vaule"/,
  );
  // Names bound by a macro are not unknown.
  expect(() =>
    parseConfig(`${head}      - type: filter\n        expr: "tags.exists(k, k == 'site')"\n`, 'edge.yaml'),
  ).not.toThrow();
});

test('the type names of standard CEL work: type(value) == double selects numbers, whatever their JSON form', () => {
  const five = r({ value: 5 }); // an integer in JSON is still a CEL double
  const input = [
    five,
    r({ value: 2.5 }),
    r({ value: 'hot' }),
    r({ value: true }),
    r({ value: { lat: 52.5, lon: 13.4 } }),
  ];
  const numbers = chainOf([{ type: 'filter', expr: 'type(value) == double && value > 3.0' }]);
  expect(numbers.chain.run(input).kept).toEqual([five]);
  // The type guard short-circuits: the string, the bool and the object are dropped without a type error.
  expect(numbers.counts.get('1-filter')?.errors).toEqual({});
  expect(run({ type: 'filter', expr: 'type(value) == int' }, input)).toEqual([]);
  expect(run({ type: 'filter', expr: 'type(value) == string' }, input)).toEqual([input[2]]);
  expect(run({ type: 'filter', expr: 'type(value) == bool' }, input)).toEqual([input[3]]);
  expect(run({ type: 'filter', expr: 'type(value) == map' }, input)).toEqual([input[4]]);
  expect(run({ type: 'filter', expr: 'type(ts) == int && type(tags) == map' }, input)).toHaveLength(5);
  for (const expr of [
    'type(1u) == uint',
    "type(b'x') == bytes",
    'type([1]) == list',
    'type(null) == null_type',
    'type(double) == type',
  ])
    expect(run({ type: 'filter', expr }, [five]), expr).toHaveLength(1);
  // An int-valued reading is a double in arithmetic too: `value + 1` is a type error, `value + 1.0` not.
  const arith = chainOf([{ type: 'filter', expr: 'value + 1.0 == 6.0 || value + 1 == 6' }]);
  expect(arith.chain.run([five]).kept).toHaveLength(1);
  expect(arith.counts.get('1-filter')?.errors).toEqual({});
  const intArith = chainOf([{ type: 'filter', expr: 'value + 1 == 6' }]);
  intArith.chain.run([five]);
  expect(intArith.counts.get('1-filter')?.errors).toEqual({ eval_error: 1 });
});

test('a misspelt type name is still an unknown name at load', () => {
  const head = 'gateway:\n  id: gw\nsources:\n  sim:\n    type: simulator\n    processors:\n';
  expect(configError(`${head}      - type: filter\n        expr: "type(value) == doubel"\n`)).toMatch(
    /line 1, column 16 .*unknown name "doubel".*type names int, uint, double/,
  );
});
