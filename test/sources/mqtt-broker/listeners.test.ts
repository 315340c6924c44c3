// Listener defaults: secure unless configured otherwise.
import { describe, expect, test } from 'vitest';
import { schema as brokerSchema } from '../../../gateway/sources/mqtt-broker/index.js';

describe('listeners', () => {
  test('secure by default: no listeners means loopback only with anonymous; configured ones refuse anonymous', () => {
    expect(brokerSchema.parse({ type: 'mqtt_broker' }).listeners).toEqual([
      { type: 'tcp', host: '127.0.0.1', port: 1883, allow_anonymous: true },
    ]);
    expect(brokerSchema.parse({ type: 'mqtt_broker', listeners: [{ type: 'tcp' }] }).listeners).toEqual([
      { type: 'tcp', host: '0.0.0.0', port: 1883, allow_anonymous: false },
    ]);
  });
});
