// The pieces behind `sluice check`'s host checks: which options name files, the hint per errno, sizes.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { configFilesOf } from '../../gateway/config/host-checks.js';
import { fileHint, readConfigText } from '../../gateway/config/files.js';
import { loadConfigFile, parseConfig } from '../../gateway/config/load.js';
import { SluiceError } from '../../gateway/errors.js';
import { tempDir } from '../helpers/tmp.js';

const example = (name: string): string => new URL(`../../deploy/config/${name}`, import.meta.url).pathname;

test('every file option of the examples is found, with the path of its line', () => {
  const found = (name: string): string[] =>
    configFilesOf(loadConfigFile(example(name))).map((f) => `${f.path.join('.')}=${f.file}`);
  expect(found('mqtt-kafka.yaml').sort()).toEqual([
    'sinks.kafka.sasl.password_file=/etc/sluice/kafka-password',
    'sinks.kafka.tls.ca_file=/etc/sluice/kafka-ca.pem',
    'sources.sensors.password_file=/etc/sluice/mqtt-passwords',
  ]);
  expect(found('fleet-managed.yaml').sort()).toEqual([
    'fleet.mqtt.tls.ca_file=/etc/sluice/fleet-ca.pem',
    'fleet.mqtt.tls.cert_file=/etc/sluice/lyon-gw-01.crt',
    'fleet.mqtt.tls.key_file=/etc/sluice/lyon-gw-01.key',
    'fleet.trusted_keys.0.public_key_file=/etc/sluice/keys/ops.pub',
  ]);
  const tls = parseConfig(
    'gateway: { id: gw }\nsources:\n  b:\n    type: mqtt_broker\n    listeners:\n      - { type: tcp, port: 1 }\n      - { type: wss, port: 2, cert_file: c.pem, key_file: k.pem, ca_file: ca.pem }\n',
  );
  expect(configFilesOf(tls).map((f) => `${f.path.join('.')} ${f.info.what}`)).toEqual([
    'sources.b.listeners.1.cert_file TLS certificate',
    'sources.b.listeners.1.key_file TLS key',
    'sources.b.listeners.1.ca_file TLS CA file',
  ]);
});

test('the hint follows the errno: only a missing file is told to be created', () => {
  const create = 'create it with `sluice passwd -f FILE USERNAME`';
  expect(fileHint({ code: 'ENOENT' }, create)).toBe(create);
  for (const code of ['EACCES', 'EPERM']) {
    const hint = fileHint({ code }, create);
    expect(hint).not.toContain('sluice passwd');
    expect(hint).toMatch(/may not read it: make it readable by that user or its group/);
  }
  // What the broker reads at start (auth.ts passes the create hint): a directory is not told to be created.
  const dir = join(tempDir(), 'passwords');
  mkdirSync(dir);
  let err: unknown;
  try {
    readConfigText(dir, 'password_file', create);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SluiceError);
  expect((err as SluiceError).hint).toBe('the path names a directory: point the option at the file');
});

test('sizes: TB, PB, TiB and PiB are units; a size past 8 PiB is refused, not rounded', () => {
  const size = (v: string): number => {
    const sink = parseConfig(
      `gateway: { id: gw }\nsinks:\n  o: { type: file, path: x, max_file_bytes: ${v} }\n`,
    ).sinks.o;
    if (sink?.type !== 'file') throw new Error('expected a file sink');
    return sink.max_file_bytes;
  };
  expect(size('2TB')).toBe(2e12);
  expect(size('1.5TiB')).toBe(1.5 * 1024 ** 4);
  expect(size('1PB')).toBe(1e15);
  expect(size('1pib')).toBe(1024 ** 5);
  expect(() => size('9PiB')).toThrow(/not a usable byte count/);
});
