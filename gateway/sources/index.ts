// Every source type Sluice knows, in one explicit list (no registration by import side effects).
import { mqttBroker } from './mqtt-broker/index.js';
import { mqttClient } from './mqtt-client.js';
import { simulator } from './simulator.js';

export const sources = [simulator, mqttBroker, mqttClient] as const;
