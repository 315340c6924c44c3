// The registries import only the components' schemas; each implementation loads when a config first creates
// one (lazyComponent). What the registry says about a component must be what the component says itself, and
// creating one through the registry must build the component's own class.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import type { ComponentDefinition } from '../../gateway/components.js';
import { file } from '../../gateway/sinks/file/index.js';
import { FileSink } from '../../gateway/sinks/file/sink.js';
import { hdfs } from '../../gateway/sinks/hdfs/index.js';
import { sinks } from '../../gateway/sinks/index.js';
import { kafka } from '../../gateway/sinks/kafka/index.js';
import { sources } from '../../gateway/sources/index.js';
import { mqttBroker } from '../../gateway/sources/mqtt-broker/index.js';
import { mqttClient } from '../../gateway/sources/mqtt-client.js';
import { serial } from '../../gateway/sources/serial/index.js';
import { simulator } from '../../gateway/sources/simulator.js';
import { sql } from '../../gateway/sources/sql/index.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { tempDir } from '../helpers/tmp.js';

type AnyDefinition = ComponentDefinition<never, unknown>;
const own = (defs: readonly unknown[]): AnyDefinition[] => defs as AnyDefinition[];

test.each([
  ...own([file, kafka, hdfs]).map((def) => ({ type: def.type, def, registry: own(sinks) })),
  ...own([simulator, mqttBroker, mqttClient, serial, sql]).map((def) => ({
    type: def.type,
    def,
    registry: own(sources),
  })),
])('the registry entry for $type matches the component', ({ def, registry }) => {
  const entry = registry.find((e) => e.type === def.type);
  expect(entry, `registry entry for ${def.type}`).toBeDefined();
  expect(entry!.description).toBe(def.description);
  expect(entry!.schema).toBe(def.schema);
});

test('every registry entry is a known component', () => {
  expect(sinks.map((s) => s.type)).toEqual(['file', 'kafka', 'hdfs']);
  expect(sources.map((s) => s.type)).toEqual(['simulator', 'mqtt_broker', 'mqtt', 'serial', 'sql']);
});

test('a lazy registry entry creates the component itself', async () => {
  const entry = sinks[0];
  expect(entry.type).toBe('file');
  const config = entry.schema.parse({ type: 'file', path: tempDir() });
  const metrics = { forStage: () => undefined } as never;
  const sink = await entry.create('local', config, {
    gatewayId: 'gw',
    dataDir: tempDir(),
    log: silentLogger,
    metrics,
  });
  expect(sink).toBeInstanceOf(FileSink);
});

test('loading the config schema does not load the sink and source libraries', () => {
  // A fresh process (vitest has loaded everything by now): the registries, as `sluice run` loads them.
  const dist = fileURLToPath(new URL('../../dist/gateway/', import.meta.url));
  const script = `
    await import(${JSON.stringify(`${dist}config/load.js`)});
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify(loaded));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const loaded = JSON.parse(r.stdout) as string[];
  for (const lib of ['kafkajs', 'aedes', 'serialport', 'better-sqlite3', 'pg', 'mysql2', 'avsc']) {
    expect(loaded.filter((p) => p.includes(`/node_modules/${lib}/`))).toEqual([]);
  }
});
