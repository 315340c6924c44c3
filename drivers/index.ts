// The registry of drivers, listed explicitly (no registration by import side effect). A serial source picks
// one by its `type` tag: `driverSchema` validates the `driver:` block of its config, `createDriver` builds it.
import { z } from 'zod';
import type { Driver } from './driver.js';
import * as lines from './lines/index.js';
import * as modbusRtu from './modbus-rtu/index.js';
import * as nmea from './nmea/index.js';
import * as pms5003 from './pms5003.js';
import * as sds011 from './sds011.js';

export interface DriverDefinition<S extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly description: string;
  /** Zod schema of the driver's options, with `type: z.literal(<type>)`; defaults live here. */
  readonly schema: S;
  /** Validates `options` (throws DriverOptionsError) and builds a driver. */
  create(options: z.input<S>): Driver;
}

function define<S extends z.ZodType>(d: DriverDefinition<S>): DriverDefinition<S> {
  return d;
}

export const drivers = [
  define(lines),
  define(nmea),
  define(modbusRtu),
  define(pms5003),
  define(sds011),
] as const;

export const driverSchema = z.discriminatedUnion('type', [
  lines.schema,
  nmea.schema,
  modbusRtu.schema,
  pms5003.schema,
  sds011.schema,
]);

export type DriverConfig = z.input<typeof driverSchema>;
export type DriverType = DriverConfig['type'];

export function createDriver(config: DriverConfig): Driver {
  switch (config.type) {
    case 'lines':
      return lines.create(config);
    case 'nmea':
      return nmea.create(config);
    case 'modbus-rtu':
      return modbusRtu.create(config);
    case 'pms5003':
      return pms5003.create(config);
    case 'sds011':
      return sds011.create(config);
  }
}
