// ACLs: MQTT filter matching, `%c`/`%u` substitution, and the config errors that point to them.
import { describe, expect, test } from 'vitest';
import { Acl, covers, matchesTopic } from '../../../gateway/sources/mqtt-broker/acl.js';
import { schema as brokerSchema } from '../../../gateway/sources/mqtt-broker/index.js';

describe('ACL', () => {
  test('topic filter matching follows MQTT, `$` topics excluded from leading wildcards', () => {
    expect(matchesTopic('a/+/c', 'a/b/c')).toBe(true);
    expect(matchesTopic('a/#', 'a')).toBe(true);
    expect(matchesTopic('a/+', 'a/b/c')).toBe(false);
    expect(matchesTopic('#', '$SYS/x')).toBe(false);
    expect(matchesTopic('$SYS/#', '$SYS/x')).toBe(true);
    expect(covers('a/#', 'a/+/c')).toBe(true);
    expect(covers('a/+/c', 'a/#')).toBe(false);
    expect(covers('a/+', 'a/+')).toBe(true);
    expect(covers('#', '$SYS/#')).toBe(false);
  });
  test('%c and %u patterns; ids that would widen a filter are refused', () => {
    const acl = new Acl([
      { publish: ['sensors/%c/#'], subscribe: ['cmd/%u/#'] },
      { username: 'admin', publish: ['#'], subscribe: ['#'] },
    ]);
    expect(acl.canPublish({ clientId: 'd1', username: undefined }, 'sensors/d1/t')).toBe(true);
    expect(acl.canPublish({ clientId: 'd1', username: undefined }, 'sensors/d2/t')).toBe(false);
    expect(acl.canPublish({ clientId: '+', username: undefined }, 'sensors/x/t')).toBe(false);
    expect(acl.canSubscribe({ clientId: 'd1', username: 'u1' }, 'cmd/u1/#')).toBe(true);
    expect(acl.canSubscribe({ clientId: 'd1', username: undefined }, 'cmd/u1/#')).toBe(false);
    expect(acl.canPublish({ clientId: 'x', username: 'admin' }, 'anything/at/all')).toBe(true);
    expect(acl.canPublish({ clientId: 'x', username: 'admin' }, '$SYS/x')).toBe(false);
    expect(new Acl(undefined).canPublish({ clientId: 'x', username: undefined }, '$SYS/broker/x')).toBe(
      false,
    );
  });
  test('`{username}`-style placeholders in ACL filters are config errors that point to %u/%c', () => {
    const parsed = brokerSchema.safeParse({
      type: 'mqtt_broker',
      acl: [{ publish: ['sensors/{username}/#'] }],
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/%u.*%c/);
    expect(
      brokerSchema.safeParse({ type: 'mqtt_broker', acl: [{ publish: ['sensors/%u/#'] }] }).success,
    ).toBe(true);
  });
});
