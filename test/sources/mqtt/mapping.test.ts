// Topic rules: which topics become readings, with which device, metric, tags and decoder; the same options
// the broker and the mqtt client source embed.
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { TopicMapper, mappingOptions, topicRuleSchema } from '../../../gateway/sources/mqtt/mapping.js';

const NOW = 1_700_000_000_000;
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const mappingSchema = z.strictObject(mappingOptions);

describe('topic rules', () => {
  const mapper = (over: object = {}): TopicMapper => new TopicMapper(mappingSchema.parse(over), 'mqtt');

  test('`sensors/{device}/{metric}` with a decoder; other captures become tags; `+` and `#` match levels', () => {
    const m = mapper({
      topics: [
        { topic: 'sensors/{device}/{metric}', decoder: 'number' },
        { topic: 'site/{site}/+/{device}/#', decoder: 'json', metric: 'state' },
      ],
    });
    expect(m.map('sensors/d1/temp', utf8('5'), 'c1', NOW)).toEqual({
      kind: 'readings',
      device: 'd1',
      readings: [{ device: 'd1', metric: 'temp', value: 5, ts: NOW, source: 'mqtt' }],
    });
    expect(m.map('site/paris/x/d2/a/b', utf8('"ok"'), 'c1', NOW)).toMatchObject({
      kind: 'readings',
      readings: [{ device: 'd2', metric: 'state', value: 'ok', tags: { site: 'paris' } }],
    });
    expect(m.map('sensors/d1', utf8('5'), 'c1')).toEqual({ kind: 'unmatched' });
    expect(m.map('sensors/d1/temp', utf8('x'), 'c1')).toMatchObject({
      kind: 'rejected',
      device: 'd1',
      reason: 'not_a_number',
    });
  });

  test('no {device}: the client id is the device; `$` topics never match a leading wildcard', () => {
    const m = mapper({ topics: [{ topic: '+/{metric}', decoder: 'number' }] });
    expect(m.map('x/temp', utf8('1'), 'client-7')).toMatchObject({ kind: 'readings', device: 'client-7' });
    expect(m.map('$SYS/temp', utf8('1'), 'client-7')).toEqual({ kind: 'unmatched' });
  });

  test('oversize payloads are rejected before decoding; unmatched can be stored raw', () => {
    const m = mapper({ max_payload_bytes: 4, unmatched: 'store_raw' });
    expect(m.map('sensors/d/t', utf8('12345'), 'c')).toMatchObject({ kind: 'rejected', reason: 'too_large' });
    expect(m.map('other/x', utf8('hi'), 'c', NOW)).toEqual({
      kind: 'readings',
      device: 'c',
      readings: [
        { device: 'c', metric: 'other/x', value: 'hi', ts: NOW, source: 'mqtt', tags: { encoding: 'utf8' } },
      ],
    });
    expect(m.map('other/x', Buffer.from([0xff]), 'c', NOW)).toMatchObject({
      kind: 'readings',
      readings: [{ value: '/w==', tags: { encoding: 'base64' } }],
    });
  });

  test('invalid patterns are config errors', () => {
    expect(topicRuleSchema.safeParse({ topic: 'a/#/b' }).success).toBe(false);
    expect(topicRuleSchema.safeParse({ topic: 'a/{Device}' }).success).toBe(false);
    expect(topicRuleSchema.safeParse({ topic: 'a/{d}/{d}' }).success).toBe(false);
  });
});
