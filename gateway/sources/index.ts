// Every source type Sluice knows, in one explicit list (no registration by import side effects).
//
// Where a source's schema has its own file, only the schema is imported here; the implementation and its
// libraries (aedes, serialport, the PostgreSQL, MySQL and SQLite drivers) load when a config first uses that
// type (lazyComponent). The description repeats the one in the source's own index.ts
// (test/config/registry.test.ts checks that they agree). simulator and mqtt_client are one file each.
import { lazyComponent } from '../components.js';
import { mqttClient } from './mqtt-client.js';
import { schema as mqttBrokerSchema } from './mqtt-broker/schema.js';
import { schema as serialSchema } from './serial/schema.js';
import { simulator } from './simulator.js';
import { schema as sqlSchema } from './sql/schema.js';

export const sources = [
  simulator,
  lazyComponent(
    'mqtt_broker',
    'Embedded MQTT broker (TCP, TLS, WebSocket ws/wss) that acknowledges QoS 1/2 only once readings are on disk.',
    mqttBrokerSchema,
    async () => (await import('./mqtt-broker/index.js')).mqttBroker,
  ),
  mqttClient,
  lazyComponent(
    'serial',
    'Serial port (RS-232/RS-485/USB) with a protocol driver; reopened with backoff after unplug.',
    serialSchema,
    async () => (await import('./serial/index.js')).serial,
  ),
  lazyComponent(
    'sql',
    'Rows of a PostgreSQL, MySQL/MariaDB or SQLite table or query, imported incrementally, exactly once into the queue.',
    sqlSchema,
    async () => (await import('./sql/index.js')).sql,
  ),
] as const;
