// The `serial` source's config schema, the single source of truth of its options and types (source.ts
// imports it from here, not from the front file index.ts).
import { z } from 'zod';
import { driverSchema } from '../../../drivers/index.js';
import { componentName, durationMs } from '../../config/common.js';

export const schema = z
  .strictObject({
    type: z.literal('serial'),
    path: z
      .string()
      .min(1)
      .describe(
        'Device path. Prefer the stable /dev/serial/by-id/usb-... link (`sluice serial list`): /dev/ttyUSB0 can name another adapter after a replug or a reboot.',
      ),
    baud_rate: z.number().int().min(50).max(4_000_000).default(9600).describe('Line speed, bits per second.'),
    data_bits: z
      .union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)])
      .default(8)
      .describe('Bits per character.'),
    parity: z.enum(['none', 'even', 'odd']).default('none'),
    stop_bits: z.union([z.literal(1), z.literal(2)]).default(1),
    flow_control: z
      .enum(['none', 'rtscts', 'xonxoff'])
      .default('none')
      .describe('Hardware (RTS/CTS) or software (XON/XOFF) flow control.'),
    device: componentName
      .optional()
      .describe('Device label of readings whose driver does not name one. Default: the source name.'),
    driver: driverSchema.describe(
      'The protocol spoken on the line: `type` picks the driver, the rest are its options.',
    ),
    check_interval_ms: durationMs
      .min(10)
      .default(500)
      .describe(
        'How often the path is checked: while open, that it still names the device node that was opened (unplug events do not always reach the port on Linux); while closed, whether it has come back.',
      ),
    reopen_initial_ms: durationMs
      .min(1)
      .default(100)
      .describe('First delay before reopening after a failed open.'),
    reopen_max_ms: durationMs
      .min(1)
      .default(30_000)
      .describe(
        'Longest delay between failed opens of a present path (a missing path is checked every check_interval_ms).',
      ),
    max_pending_readings: z
      .number()
      .int()
      .min(1)
      .max(10_000_000)
      .default(10_000)
      .describe(
        'Most readings held while the previous append is being committed; beyond that, new readings are dropped and counted (discarded, reason `overflow`).',
      ),
  })
  .superRefine((c, ctx) => {
    if (c.reopen_initial_ms > c.reopen_max_ms) {
      ctx.addIssue({
        code: 'custom',
        path: ['reopen_initial_ms'],
        message: 'cannot exceed reopen_max_ms (the longest delay)',
      });
    }
    // The Modbus master derives its 3.5 character silence and timeouts from the line settings; they must be
    // the port's, and writing them once on each side keeps a config readable without magic copying.
    if (c.driver.type !== 'modbus-rtu') return;
    const pairs = [
      ['baud_rate', c.driver.baud_rate, c.baud_rate],
      ['parity', c.driver.parity, c.parity],
      ['stop_bits', c.driver.stop_bits, c.stop_bits],
    ] as const;
    for (const [key, driverValue, portValue] of pairs) {
      if (driverValue !== portValue) {
        ctx.addIssue({
          code: 'custom',
          path: ['driver', key],
          message: `is ${String(driverValue)}, the port's ${key} is ${String(portValue)}: the Modbus timing is computed from the line settings, so give both the same value (modbus-rtu defaults to 9600 baud, even parity, 1 stop bit)`,
        });
      }
    }
  })
  .describe(
    'A serial port read by a driver (lines, nmea, modbus-rtu, pms5003, sds011); reopened after unplug. Readings are safe from the durable append on: a serial sensor gets no acknowledgement.',
  );

export type SerialConfig = z.output<typeof schema>;
