// Drivers refuse bad options with their own DriverOptionsError (they know nothing of the gateway); the serial
// source turns it into the gateway's SLUICE_CONFIG_INVALID with the message and hint users saw before.
import { expect, test } from 'vitest';
import { DriverOptionsError } from '../../drivers/driver.js';
import { isSluiceError } from '../../gateway/errors.js';
import { SerialSource, schema, type SerialConfig } from '../../gateway/sources/serial/index.js';

test('a driver refusing its options fails the serial source with SLUICE_CONFIG_INVALID, worded as before', () => {
  const valid = schema.parse({ type: 'serial', path: '/dev/null', driver: { type: 'lines' } });
  // Options that bypassed the config schema (which refuses them first at boot): the driver's own check.
  const config = { ...valid, driver: { type: 'modbus-rtu', slaves: [] } } as unknown as SerialConfig;
  let caught: unknown;
  try {
    new SerialSource('port1', config);
  } catch (err) {
    caught = err;
  }
  expect(isSluiceError(caught)).toBe(true);
  expect(caught).toMatchObject({
    code: 'SLUICE_CONFIG_INVALID',
    retriable: false,
    message: expect.stringMatching(/^driver modbus-rtu: .*slaves/s),
    hint: 'fix the options of the modbus-rtu driver',
  });
  expect((caught as Error).cause).toBeInstanceOf(DriverOptionsError);
  expect((caught as Error).cause).toMatchObject({ driver: 'modbus-rtu', path: 'slaves' });
});
