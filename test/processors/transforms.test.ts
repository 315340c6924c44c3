// rename, tag, enrich and scale: what each changes, that templates and units are checked at load, and that
// a reading they cannot handle (a missing tag, a string value, an unknown unit) is counted, never a crash.
import { expect, test } from 'vitest';
import { processorSchema } from '../../gateway/processors/index.js';
import { chainOf, ctx, r, run } from './helpers.js';

test('rename renders metric and device templates from the input reading', () => {
  const [out] = run({ type: 'rename', metric: '{device}_{metric}', device: '{tags.site}-{metric}' }, [
    r({ tags: { site: 'b' } }),
  ]);
  expect(out).toMatchObject({ metric: 'd1_temperature', device: 'b-temperature', value: 20 });
  const only = run({ type: 'rename', metric: 'temp', metrics: ['temperature'] }, [r(), r({ metric: 'rh' })]);
  expect(only.map((x) => x.metric)).toEqual(['temp', 'rh']);
});

test('templates with unknown placeholders are refused at load; a missing tag is a counted error', () => {
  expect(processorSchema.safeParse({ type: 'rename', metric: '{nope}' }).error?.issues[0]?.message).toMatch(
    /unknown placeholder \{nope\}/,
  );
  expect(processorSchema.safeParse({ type: 'rename' }).success).toBe(false);
  const { chain, counts } = chainOf([{ type: 'rename', device: '{tags.site}', on_error: 'drop' }]);
  expect(chain.run([r()]).kept).toEqual([]);
  expect(counts.get('1-rename')).toMatchObject({ errors: { missing_field: 1 }, dropped: { error: 1 } });
});

test('tag adds templated tags and removes tags; the input reading is not changed', () => {
  const input = r({ tags: { a: '1', b: '2' } });
  const [out] = run({ type: 'tag', add: { where: '{device}/{tags.a}' }, remove: ['a', 'b'] }, [input]);
  expect(out?.tags).toEqual({ where: 'd1/1' });
  expect(input.tags).toEqual({ a: '1', b: '2' });
  const [bare] = run({ type: 'tag', remove: ['a'] }, [r({ tags: { a: '1' } })]);
  expect(bare && 'tags' in bare).toBe(false);
});

test('enrich adds static tags and tags from fleet labels; the reading’s own tag wins unless overwrite', () => {
  const cfg = {
    type: 'enrich',
    tags: { location: 'hall 3' },
    from_fleet_labels: [
      { prefix: 'site-', tag: 'site' },
      { prefix: 'zone-', tag: 'zone' },
    ],
  };
  const [out] = run(cfg, [r({ tags: { location: 'roof' } })]);
  expect(out?.tags).toEqual({ site: 'berlin', location: 'roof' });
  const over = chainOf([{ ...cfg, overwrite: true }], { ...ctx, fleetLabels: [] }).chain.run([
    r({ tags: { location: 'roof' } }),
  ]).kept[0];
  expect(over?.tags).toEqual({ location: 'hall 3' });
});

test('scale: linear scale and offset, unit conversion from the table, and unit set', () => {
  const [lin] = run({ type: 'scale', factor: 0.1, offset: -40, unit: 'C' }, [
    r({ value: 650, unit: undefined }),
  ]);
  expect(lin).toMatchObject({ value: 25, unit: 'C' });
  const [f] = run({ type: 'scale', convert: { to: 'degC' } }, [r({ value: 212, unit: 'degF' })]);
  expect(f?.value).toBeCloseTo(100, 9);
  expect(f?.unit).toBe('degC');
  const [pa] = run({ type: 'scale', convert: { to: 'hPa', from: 'Pa' } }, [
    r({ value: 101325, unit: undefined }),
  ]);
  expect(pa).toMatchObject({ value: 1013.25, unit: 'hPa' });
  const [same] = run({ type: 'scale', convert: { to: 'C' } }, [r({ value: 20, unit: 'C' })]);
  expect(same).toMatchObject({ value: 20, unit: 'C' });
  const [k] = run({ type: 'scale', convert: { to: 'K' } }, [r({ value: 0, unit: '°C' })]);
  expect(k?.value).toBeCloseTo(273.15, 9);
  const [other] = run({ type: 'scale', factor: 2, metrics: ['rh'] }, [r({ value: 3 })]);
  expect(other?.value).toBe(3);
});

test('scale refuses unknown or mismatched units at load', () => {
  expect(processorSchema.safeParse({ type: 'scale', convert: { to: 'furlong' } }).success).toBe(false);
  expect(processorSchema.safeParse({ type: 'scale', convert: { to: 'degC', from: 'Pa' } }).success).toBe(
    false,
  );
  expect(processorSchema.safeParse({ type: 'scale', unit: 'C', convert: { to: 'degC' } }).success).toBe(
    false,
  );
});

test('a string reaching scale, or a unit it cannot convert, is counted by reason and kept or dropped', () => {
  const input = [
    r({ value: 'warm' }),
    r({ value: 3, unit: 'Pa' }),
    r({ value: 3, unit: undefined }),
    r({ value: 50, unit: 'degF' }),
  ];
  const keep = chainOf([{ type: 'scale', convert: { to: 'degC' } }]);
  const kept = keep.chain.run(input).kept;
  expect(kept).toHaveLength(4);
  expect(kept.slice(0, 3)).toEqual(input.slice(0, 3));
  expect(keep.counts.get('1-scale')?.errors).toEqual({ not_numeric: 1, unknown_unit: 1, no_unit: 1 });
  const drop = chainOf([{ type: 'scale', convert: { to: 'degC' }, on_error: 'drop' }]);
  expect(drop.chain.run(input).kept.map((x) => x.unit)).toEqual(['degC']);
  expect(drop.counts.get('1-scale')?.dropped).toEqual({ error: 3 });
});

test('a chain runs in order, and a processor that throws something unexpected is counted as internal', () => {
  const { chain, counts } = chainOf([
    { type: 'scale', factor: 10 },
    { type: 'filter', expr: 'value > 100.0' },
    { type: 'tag', add: { big: 'yes' } },
  ]);
  const out = chain.run([r({ value: 5 }), r({ value: 20 })]).kept;
  expect(out).toEqual([{ ...r({ value: 200 }), tags: { big: 'yes' } }]);
  expect([...counts.keys()]).toEqual(['1-scale', '2-filter', '3-tag']);
  expect(counts.get('3-tag')).toMatchObject({ in: 1, out: 1 });
  // A reading whose tags are not a record makes Object.entries throw inside CEL's binding: counted.
  const broken = chainOf([{ type: 'filter', expr: 'true' }]);
  const weird = { ...r(), tags: null as unknown as Record<string, string> };
  expect(() => broken.chain.run([weird])).not.toThrow();
});
