// Payload decoders (number, string, JSON, CBOR, SenML with the RFC 8428 examples): bytes in, readings or a
// stable rejection reason out, and random bytes never throw.
import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { DECODERS, decode, type DecodeContext } from '../../../gateway/sources/mqtt/decoders.js';

const NOW = 1_700_000_000_000;
const ctx = (over: Partial<DecodeContext> = {}): DecodeContext => ({
  device: 'dev1',
  metric: 'temp',
  unit: undefined,
  tags: undefined,
  source: 'mqtt',
  now: NOW,
  maxReadings: 100,
  ...over,
});
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const cbor = new Encoder({ useRecords: false });
// `useTag259ForMaps` exists in cbor-x's encoder but not in its typings; a variable skips the literal check.
const untaggedMaps = { useRecords: false, useTag259ForMaps: false };

describe('decoders', () => {
  test('number and string payloads become one reading with the topic metric', () => {
    expect(decode('number', utf8(' 21.5 '), ctx())).toEqual({
      ok: true,
      readings: [{ device: 'dev1', metric: 'temp', value: 21.5, ts: NOW, source: 'mqtt' }],
    });
    expect(decode('number', utf8('0x10'), ctx())).toMatchObject({ ok: false, reason: 'not_a_number' });
    expect(decode('number', utf8('Infinity'), ctx())).toMatchObject({ ok: false, reason: 'not_a_number' });
    expect(decode('string', utf8('on'), ctx())).toMatchObject({ ok: true, readings: [{ value: 'on' }] });
    expect(decode('string', Buffer.from([0xff, 0xfe]), ctx())).toMatchObject({
      ok: false,
      reason: 'not_utf8',
    });
    expect(decode('number', utf8('1'), ctx({ metric: undefined }))).toMatchObject({
      ok: false,
      reason: 'no_metric',
    });
  });

  test('JSON: bare value, one reading with value, object of metrics, array', () => {
    expect(decode('json', utf8('true'), ctx())).toMatchObject({
      ok: true,
      readings: [{ metric: 'temp', value: true }],
    });
    expect(decode('json', utf8('{"value":21.5,"unit":"C","ts":1600000000000}'), ctx())).toMatchObject({
      ok: true,
      readings: [{ metric: 'temp', value: 21.5, unit: 'C', ts: 1_600_000_000_000 }],
    });
    const multi = decode(
      'json',
      utf8('{"temperature":21.5,"humidity":{"value":40,"unit":"%"},"ts":"2024-01-01T00:00:00Z"}'),
      ctx({ metric: undefined }),
    );
    expect(multi).toMatchObject({
      ok: true,
      readings: [
        { metric: 'temperature', value: 21.5, ts: Date.parse('2024-01-01T00:00:00Z') },
        { metric: 'humidity', value: 40, unit: '%', ts: Date.parse('2024-01-01T00:00:00Z') },
      ],
    });
    expect(
      decode('json', utf8('[{"metric":"a","value":1},{"metric":"b","value":{"lat":1,"lon":2}}]'), ctx()),
    ).toMatchObject({
      ok: true,
      readings: [
        { metric: 'a', value: 1 },
        { metric: 'b', value: { lat: 1, lon: 2 } },
      ],
    });
    expect(decode('json', utf8('{"a":'), ctx())).toMatchObject({ ok: false, reason: 'bad_json' });
    expect(decode('json', utf8('{"a":[1,2]}'), ctx())).toMatchObject({ ok: false, reason: 'bad_value' });
    expect(decode('json', utf8('{"value":1,"ts":"yesterday"}'), ctx())).toMatchObject({
      ok: false,
      reason: 'bad_timestamp',
    });
    expect(
      decode(
        'json',
        utf8(JSON.stringify(Array.from({ length: 101 }, () => ({ metric: 'a', value: 1 })))),
        ctx(),
      ),
    ).toMatchObject({
      ok: false,
      reason: 'too_many_readings',
    });
  });

  test('CBOR: same shapes; binary and bigint values are refused', () => {
    expect(decode('cbor', cbor.encode({ temperature: 20, humidity: 50 }), ctx())).toMatchObject({
      ok: true,
      readings: [{ metric: 'temperature' }, { metric: 'humidity' }],
    });
    expect(decode('cbor', cbor.encode({ value: Buffer.from([1]) }), ctx())).toMatchObject({
      ok: false,
      reason: 'bad_value',
    });
    expect(
      decode('cbor', Buffer.from([0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), ctx()),
    ).toMatchObject({ ok: false, reason: 'bad_value' });
    expect(decode('cbor', Buffer.from([0x01, 0x02]), ctx())).toMatchObject({ ok: false, reason: 'bad_cbor' });
  });

  test('SenML JSON: RFC 8428 §5.1.2 multiple datapoints, base fields carried forward', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a01080063:', bt: 1.320067464e9, bu: '%RH', v: 20 },
      { u: 'lon', v: 24.30621 },
      { u: 'lat', v: 60.07965 },
      { t: 60, v: 20.3 },
      { n: 'temp', u: 'Cel', t: 120, vs: 'warm' },
      { n: 'open', vb: false },
    ];
    const r = decode('senml_json', utf8(JSON.stringify(pack)), ctx({ metric: undefined }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.readings.map((x) => [x.metric, x.value, x.unit, x.ts])).toEqual([
      ['urn:dev:ow:10e2073a01080063:', 20, '%RH', 1_320_067_464_000],
      ['urn:dev:ow:10e2073a01080063:', 24.30621, 'lon', 1_320_067_464_000],
      ['urn:dev:ow:10e2073a01080063:', 60.07965, 'lat', 1_320_067_464_000],
      ['urn:dev:ow:10e2073a01080063:', 20.3, '%RH', 1_320_067_524_000],
      ['urn:dev:ow:10e2073a01080063:temp', 'warm', 'Cel', 1_320_067_584_000],
      ['urn:dev:ow:10e2073a01080063:open', false, '%RH', 1_320_067_464_000],
    ]);
  });

  test('SenML: relative times (< 2**28) count from now; base value and sum; errors', () => {
    const r = decode('senml_json', utf8('[{"n":"a","bv":10,"v":1,"t":-5},{"n":"b","s":3}]'), ctx());
    expect(r).toMatchObject({
      ok: true,
      readings: [
        { metric: 'a', value: 11, ts: NOW - 5000 },
        { metric: 'b', value: 3, ts: NOW },
      ],
    });
    expect(decode('senml_json', utf8('{"n":"a","v":1}'), ctx())).toMatchObject({
      ok: false,
      reason: 'bad_senml',
    });
    expect(decode('senml_json', utf8('[{"n":"a","v":1,"vs":"x"}]'), ctx())).toMatchObject({
      ok: false,
      reason: 'bad_senml',
    });
    expect(decode('senml_json', utf8('[{"n":"-bad","v":1}]'), ctx())).toMatchObject({
      ok: false,
      reason: 'bad_senml',
    });
    expect(decode('senml_json', utf8('[{"bver":99,"n":"a","v":1}]'), ctx())).toMatchObject({
      ok: false,
      reason: 'bad_senml',
    });
  });

  test.each([
    ['untagged maps (as devices send them)', new Encoder(untaggedMaps)],
    ['maps tagged 259', cbor],
  ])('SenML CBOR: integer labels of RFC 8428 §6, %s', (_label, encoder) => {
    // bn = -2, bt = -3, n = 0, u = 1, v = 2, vb = 4
    const pack = encoder.encode([
      new Map<number, unknown>([
        [-2, 'dev:'],
        [-3, 1.7e9],
        [0, 'temp'],
        [1, 'Cel'],
        [2, 21.5],
      ]),
      new Map<number, unknown>([
        [0, 'door'],
        [4, true],
      ]),
    ]);
    expect(decode('senml_cbor', pack, ctx())).toMatchObject({
      ok: true,
      readings: [
        { metric: 'dev:temp', value: 21.5, unit: 'Cel', ts: 1_700_000_000_000 },
        { metric: 'dev:door', value: true, ts: 1_700_000_000_000 },
      ],
    });
  });

  test('random bytes never throw, whatever the decoder', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DECODERS), fc.uint8Array({ maxLength: 256 }), (name, bytes) => {
        const r = decode(name, bytes, ctx());
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 3000 },
    );
  });

  test('valid readings round-trip through JSON and CBOR', () => {
    const metric = fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/).filter((s) => s !== 'ts' && s !== 'value');
    const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.boolean());
    fc.assert(
      fc.property(fc.dictionary(metric, value, { minKeys: 1, maxKeys: 10 }), (obj) => {
        for (const [name, bytes] of [
          ['json', utf8(JSON.stringify(obj))],
          ['cbor', cbor.encode(obj)],
        ] as const) {
          const r = decode(name, bytes, ctx({ metric: undefined }));
          expect(r.ok).toBe(true);
          if (!r.ok) return;
          expect(Object.fromEntries(r.readings.map((x) => [x.metric, x.value]))).toEqual(
            JSON.parse(JSON.stringify(obj)),
          );
        }
      }),
      { numRuns: 300 },
    );
  });
});
