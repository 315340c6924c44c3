// The `modbus-rtu` driver: a Modbus RTU master polling register maps of several slaves on one serial bus.
import type { z } from 'zod';
import type { Driver } from '../driver.js';
import { parseOptions } from '../shared/options.js';
import { ModbusMaster } from './master.js';
import { planPolls } from './plan.js';
import { schema } from './schema.js';
import { bitsPerChar, charTimeMs, interFrameDelayMs } from './timing.js';

export { schema } from './schema.js';
export type { ModbusOptions } from './schema.js';
export * as codec from './codec.js';
export { decodeRegisters, encodeRegisters } from './values.js';
export { bitsPerChar, charTimeMs, interFrameDelayMs } from './timing.js';

export const type = 'modbus-rtu';
export const description =
  'Modbus RTU master: polls coils, discrete inputs and registers of slaves on one bus.';

export function create(options: z.input<typeof schema>): Driver {
  const opts = parseOptions(type, schema, options);
  const bits = bitsPerChar(opts.parity, opts.stop_bits);
  const master = new ModbusMaster(planPolls(opts), {
    charMs: charTimeMs(opts.baud_rate, bits),
    interFrameMs: interFrameDelayMs(opts.baud_rate, bits),
    responseTimeoutMs: opts.response_timeout_ms,
  });
  return {
    push: (chunk, now) => master.push(chunk, now),
    step: (now) => master.step(now),
    reset: () => master.reset(),
  };
}
