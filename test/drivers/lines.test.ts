import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DriverOptionsError } from '../../drivers/driver.js';
import { create, schema } from '../../drivers/lines/index.js';
import { LineSplitter } from '../../drivers/shared/line-splitter.js';
import {
  ascii,
  assertBytewiseSameAsWhole,
  assertRobustAgainstRandomBytes,
  assertSplitInvariant,
  concat,
  feed,
  reasons,
} from './helpers.js';

type Input = Parameters<typeof create>[0];

function run(options: Input, text: string) {
  return feed(create(options), [ascii(text)]);
}

describe('lines: json', () => {
  it('turns an object of metrics into one reading per key, typed as sent', () => {
    const out = run(
      { type: 'lines' },
      '{"device":"greenhouse-1","temp":21.5,"door_open":false,"state":"ok"}\n',
    );
    expect(out.frames).toBe(1);
    expect(out.readings).toEqual([
      { device: 'greenhouse-1', metric: 'temp', value: 21.5 },
      { device: 'greenhouse-1', metric: 'door_open', value: false },
      { device: 'greenhouse-1', metric: 'state', value: 'ok' },
    ]);
  });

  it('reads the {device, metric, value, unit, ts} form as one reading', () => {
    const line =
      '{"device":"t1","metric":"temperature","value":-3.25,"unit":"C","ts":"2024-03-01T12:00:00Z"}\r\n';
    expect(run({ type: 'lines' }, line).readings).toEqual([
      { device: 't1', metric: 'temperature', value: -3.25, unit: 'C', ts: Date.UTC(2024, 2, 1, 12) },
    ]);
  });

  it('applies configured keys, units and epoch-seconds timestamps', () => {
    const options: Input = {
      type: 'lines',
      format: { type: 'json', device_key: 'id', timestamp_key: 'time' },
      timestamp_unit: 's',
      units: { co2: 'ppm' },
    };
    expect(run(options, '{"id":"room-4","time":1700000000,"co2":612}\n').readings).toEqual([
      { device: 'room-4', metric: 'co2', value: 612, unit: 'ppm', ts: 1_700_000_000_000 },
    ]);
  });

  it('does not mistake inherited properties for data', () => {
    const out = run({ type: 'lines', units: { temp: 'C' } }, '{"constructor":1,"toString":"x","temp":2}\n');
    expect(out.readings).toEqual([
      { metric: 'constructor', value: 1 },
      { metric: 'toString', value: 'x' },
      { metric: 'temp', value: 2, unit: 'C' },
    ]);
    expect(
      run({ type: 'lines', format: { type: 'json', value_key: 'toString' } }, '{"metric":"m"}\n').readings,
    ).toEqual([{ metric: 'metric', value: 'm' }]);
  });

  it('counts bad JSON, non-objects, unusable values and bad timestamps', () => {
    const out = run(
      { type: 'lines' },
      ['{"temp": 2', '[1,2]', '{"temp":null,"hum":40,"big":1e999}', '{"ts":"yesterday","temp":1}', ''].join(
        '\n',
      ),
    );
    expect(reasons(out)).toEqual(['bad_json', 'bad_json', 'bad_value', 'bad_value', 'bad_timestamp']);
    expect(out.readings).toEqual([{ metric: 'hum', value: 40 }]);
  });
});

describe('lines: csv', () => {
  it('learns the header from the first line and skips it when repeated', () => {
    const text = 'device,temp,hum,ok\nt1,21.5,40,true\ndevice,temp,hum,ok\nt2,-1,,false\n';
    const out = run({ type: 'lines', format: { type: 'csv', device_column: 'device' } }, text);
    expect(out.readings).toEqual([
      { device: 't1', metric: 'temp', value: 21.5 },
      { device: 't1', metric: 'hum', value: 40 },
      { device: 't1', metric: 'ok', value: true },
      { device: 't2', metric: 'temp', value: -1 },
      { device: 't2', metric: 'ok', value: false },
    ]);
  });

  it('uses configured columns, a timestamp column and quoted fields', () => {
    const options: Input = {
      type: 'lines',
      delimiter: ';',
      format: { type: 'csv', separator: '\t', columns: ['time', 'label', 'level'], timestamp_column: 'time' },
    };
    const out = run(options, '2024-01-02T03:04:05.678Z\t"tank ""A"""\t0.75;');
    expect(out.readings).toEqual([
      { metric: 'label', value: 'tank "A"', ts: Date.UTC(2024, 0, 2, 3, 4, 5, 678) },
      { metric: 'level', value: 0.75, ts: Date.UTC(2024, 0, 2, 3, 4, 5, 678) },
    ]);
  });

  it('counts a wrong number of fields', () => {
    const out = run({ type: 'lines', format: { type: 'csv', columns: ['a', 'b'] } }, '1,2,3\n1\n"open\n');
    expect(reasons(out)).toEqual(['column_count', 'column_count', 'bad_csv']);
  });

  it('rejects a device column that is not a column', () => {
    const result = schema.safeParse({
      type: 'lines',
      format: { type: 'csv', columns: ['a'], device_column: 'b' },
    });
    expect(result.success).toBe(false);
  });
});

describe('lines: kv', () => {
  it('reads key=value pairs with device and timestamp keys', () => {
    const out = run(
      { type: 'lines', format: { type: 'kv' } },
      'temp=21.5  hum=40 device=k1 ts=1700000000123 pump=on huge=1e999\n',
    );
    expect(out.readings).toEqual([
      { device: 'k1', metric: 'temp', value: 21.5, ts: 1_700_000_000_123 },
      { device: 'k1', metric: 'hum', value: 40, ts: 1_700_000_000_123 },
      { device: 'k1', metric: 'pump', value: 'on', ts: 1_700_000_000_123 },
      { device: 'k1', metric: 'huge', value: '1e999', ts: 1_700_000_000_123 },
    ]);
  });

  it('takes other separators and counts a token that is not a pair', () => {
    const options: Input = { type: 'lines', format: { type: 'kv', pair_separator: ',', kv_separator: ':' } };
    const out = run(options, 'v:3.3,i:0.12\nBOOT OK\n');
    expect(out.readings).toEqual([
      { metric: 'v', value: 3.3 },
      { metric: 'i', value: 0.12 },
    ]);
    expect(reasons(out)).toEqual(['bad_kv']);
  });
});

describe('lines: regex', () => {
  it('reads metric/value/unit/device groups as one reading', () => {
    const options: Input = {
      type: 'lines',
      format: { type: 'regex', pattern: '^(?<device>\\w+): (?<metric>\\w+) = (?<value>\\S+) (?<unit>\\S+)$' },
    };
    const out = run(options, 'probe7: temperature = 19.75 C\nprobe7 restarting\n');
    expect(out.readings).toEqual([{ device: 'probe7', metric: 'temperature', value: 19.75, unit: 'C' }]);
    expect(reasons(out)).toEqual(['no_match']);
  });

  it('reads every other named group as a metric', () => {
    const options: Input = {
      type: 'lines',
      format: {
        type: 'regex',
        pattern: 'T=(?<temp>[-\\d.]+);H=(?<hum>[\\d.]+)(;E=(?<err>\\w+))?',
        case_insensitive: true,
      },
    };
    expect(run(options, 't=-4.5;h=81\n').readings).toEqual([
      { metric: 'temp', value: -4.5 },
      { metric: 'hum', value: 81 },
    ]);
  });

  it('uses the metric option when the pattern has only a value group', () => {
    const options: Input = {
      type: 'lines',
      format: { type: 'regex', pattern: 'RH (?<value>\\d+)%', metric: 'hum' },
    };
    expect(run(options, 'RH 55%\n').readings).toEqual([{ metric: 'hum', value: 55 }]);
  });

  it('rejects patterns that do not compile or say nothing', () => {
    for (const format of [
      { type: 'regex', pattern: '(' },
      { type: 'regex', pattern: '\\d+' },
      { type: 'regex', pattern: '(?<value>\\d+)' },
    ]) {
      expect(schema.safeParse({ type: 'lines', format }).success).toBe(false);
    }
  });
});

describe('lines: framing', () => {
  it('counts an over-long line once, skips it to the next delimiter, then reads on', () => {
    const driver = create({ type: 'lines', format: { type: 'kv' }, max_line_bytes: 16 });
    const out = feed(driver, [ascii('x'.repeat(40)), ascii('y'.repeat(40) + '\na=1\n')]);
    expect(reasons(out)).toEqual(['line_too_long']);
    expect(out.readings).toEqual([{ metric: 'a', value: 1 }]);
  });

  it('accepts a line of exactly max_line_bytes', () => {
    const out = run({ type: 'lines', format: { type: 'kv' }, max_line_bytes: 8 }, 'abc=1234\n');
    expect(out.readings).toEqual([{ metric: 'abc', value: 1234 }]);
  });

  it('never buffers more than one line plus its delimiter', () => {
    const splitter = new LineSplitter(ascii('\r\n'), 64);
    for (let i = 0; i < 1000; i++) splitter.push(new Uint8Array(1024).fill(0x41));
    expect(splitter.buffered).toBeLessThanOrEqual(66);
    expect(splitter.push(ascii('\r\nok\r\n'))).toEqual([{ kind: 'line', bytes: ascii('ok') }]);
  });

  it('finds a multi-byte delimiter split across chunks', () => {
    const driver = create({ type: 'lines', format: { type: 'kv' }, delimiter: '<EOL>' });
    expect(feed(driver, [ascii('a=1<E'), ascii('O'), ascii('L>b=2<EOL>')]).readings).toEqual([
      { metric: 'a', value: 1 },
      { metric: 'b', value: 2 },
    ]);
  });

  it('counts invalid UTF-8 and forgets a partial line on reset', () => {
    const driver = create({ type: 'lines', format: { type: 'kv' } });
    expect(reasons(feed(driver, [Uint8Array.of(0x61, 0x3d, 0xff, 0x0a)]))).toEqual(['bad_encoding']);
    driver.push(ascii('a=garbage-before-reopen'), 0);
    driver.reset();
    expect(feed(driver, [ascii('b=2\n')]).readings).toEqual([{ metric: 'b', value: 2 }]);
  });

  it('rejects unknown options with a driver options error naming the option', () => {
    expect(() => create({ type: 'lines', max_line_byte: 10 } as unknown as Input)).toThrow(
      expect.objectContaining({ code: 'DRIVER_OPTIONS_INVALID', driver: 'lines' }),
    );
    let caught: unknown;
    try {
      create({ type: 'lines', max_line_bytes: 0 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DriverOptionsError);
    expect(caught).toMatchObject({
      path: 'max_line_bytes',
      message: expect.stringMatching(/max_line_bytes/),
    });
  });
});

const FORMATS: Input[] = [
  { type: 'lines' },
  { type: 'lines', format: { type: 'csv' } },
  { type: 'lines', format: { type: 'kv' }, max_line_bytes: 32 },
  { type: 'lines', format: { type: 'regex', pattern: '(?<a>\\d+)-(?<b>\\w*)' }, delimiter: '\r\n' },
];

const metricName = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/).filter((k) => k !== 'device' && k !== 'ts');
const scalar = fc.oneof(
  fc.integer({ min: -1e9, max: 1e9 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).filter((d) => !Object.is(d, -0)),
  fc.boolean(),
  // Strings with a space: never a number, a boolean or a metric name (a CSV row equal to its header is skipped).
  fc.stringMatching(/^[a-z]{1,5} [a-z]{1,5}$/),
);
const record = fc.dictionary(metricName, scalar, { minKeys: 1, maxKeys: 6 });

describe('lines: properties', () => {
  it('never throws on random bytes, in any format', () => {
    for (const options of FORMATS) assertRobustAgainstRandomBytes(() => create(options), 100);
  });

  it('gives the same result however the stream is chunked', () => {
    const text = fc
      .array(
        fc.oneof(fc.constantFrom('a=1', 'b=x y', '', '\r', '1-2', '{"v":1}', 'q'.repeat(40)), fc.string()),
        {
          maxLength: 12,
        },
      )
      .map((ls) => ascii(ls.join('\n')));
    for (const options of FORMATS) assertSplitInvariant(() => create(options), text, 50);
  });

  it('round-trips an object of metrics through a JSON line', () => {
    fc.assert(
      fc.property(record, (values) => {
        const out = run({ type: 'lines' }, JSON.stringify(values) + '\n');
        expect(out.readings).toEqual(Object.entries(values).map(([metric, value]) => ({ metric, value })));
      }),
    );
  });

  it('round-trips key=value lines and CSV rows, numbers as numbers and booleans as booleans', () => {
    fc.assert(
      fc.property(record, (values) => {
        const entries = Object.entries(values);
        const expected = entries.map(([metric, value]) => ({ metric, value }));
        const kv = entries.map(([k, v]) => `${k}=${String(v)}`).join(',');
        expect(
          run({ type: 'lines', format: { type: 'kv', pair_separator: ',' } }, kv + '\n').readings,
        ).toEqual(expected);
        const csv = `${entries.map(([k]) => k).join(',')}\n${entries.map(([, v]) => String(v)).join(',')}\n`;
        expect(run({ type: 'lines', format: { type: 'csv' } }, csv).readings).toEqual(expected);
      }),
    );
  });

  it('reads a fixture identically one byte at a time', () => {
    const fixture = concat(
      ascii('device,temp\r\nt1,20.5\r\nt1,'),
      ascii('x'.repeat(5000)),
      ascii('\r\nt2,21\r\n'),
    );
    const out = assertBytewiseSameAsWhole(() => create({ type: 'lines', format: { type: 'csv' } }), fixture);
    expect(out.readings.map((r) => r.value)).toEqual(['t1', 20.5, 't2', 21]);
    expect(reasons(out)).toEqual(['line_too_long']);
  });
});
