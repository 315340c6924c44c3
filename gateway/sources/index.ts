// Every source type Sluice knows, in one explicit list (no registration by import side effects).
import { mqttBroker } from './mqtt-broker/index.js';
import { mqttClient } from './mqtt-client.js';
import { serial } from './serial/index.js';
import { simulator } from './simulator.js';
import { sql } from './sql/index.js';

export const sources = [simulator, mqttBroker, mqttClient, serial, sql] as const;
