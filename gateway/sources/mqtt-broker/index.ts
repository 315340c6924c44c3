// `mqtt_broker`: an embedded MQTT 3.1/3.1.1 broker (aedes) whose devices' readings are acknowledged only once
// they are on disk. This file holds the registry entry; schema.ts the config schema, broker.ts the source.
import type { ComponentDefinition, ComponentDeps, Source } from '../../components.js';
import { MqttBrokerSource } from './broker.js';
import { schema, type MqttBrokerConfig } from './schema.js';

export { schema } from './schema.js';
export type { MqttBrokerConfig } from './schema.js';

export const mqttBroker: ComponentDefinition<typeof schema, Source> = {
  type: 'mqtt_broker',
  description:
    'Embedded MQTT broker (TCP, TLS, WebSocket ws/wss) that acknowledges QoS 1/2 only once readings are on disk.',
  schema,
  create: (name: string, config: MqttBrokerConfig, deps: ComponentDeps) =>
    new MqttBrokerSource(name, config, deps),
};

export { MqttBrokerSource } from './broker.js';
