// `serial`: one source per serial port (RS-232, RS-485 adapter, USB CDC): a driver turns its bytes into
// readings, which are group-committed to the durable queue. There is no acknowledgement back to a sensor.
// The schema is in schema.ts, the source in source.ts.
import type { ComponentDefinition, ComponentDeps, Source } from '../../components.js';
import { SerialSource } from './source.js';
import { schema, type SerialConfig } from './schema.js';

export { schema } from './schema.js';
export type { SerialConfig } from './schema.js';
export { SerialSource } from './source.js';
export type { SerialHealth, SerialPortStats } from './source.js';

export const serial: ComponentDefinition<typeof schema, Source> = {
  type: 'serial',
  description: 'Serial port (RS-232/RS-485/USB) with a protocol driver; reopened with backoff after unplug.',
  schema,
  create: (name: string, config: SerialConfig, _deps: ComponentDeps) => new SerialSource(name, config),
};
