// Logs never show secrets: a gateway started (at trace level) from a config holding a Kafka SASL password,
// an HDFS delegation token and an MQTT URL with a password writes none of them, even when the whole config
// is logged; and repeated warnings are rate-limited with a count of what was suppressed.
import { Writable } from 'node:stream';
import { expect, test } from 'vitest';
import { parseConfig } from '../../gateway/config/load.js';
import { createLogger, RateLimitedLog, redact } from '../../gateway/observe/log.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { tempDir } from '../helpers/tmp.js';

const SECRETS = ['kafka-pw-7f3a9', 'hdfs-token-c41e', 'mqtt-url-pw-9d2b'];

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

test('a config with passwords and tokens, logged at startup, never shows them', async () => {
  const dir = tempDir('sluice-log-');
  const config = parseConfig(
    `gateway: { id: log-gw, data_dir: ${dir} }
log: { level: trace }
sources:
  upstream:
    type: mqtt
    url: mqtt://device:${SECRETS[2]}@127.0.0.1:1
sinks:
  kafka:
    type: kafka
    brokers: ['127.0.0.1:1']
    topic: sensors
    sasl: { mechanism: plain, username: gw, password: ${SECRETS[0]} }
    retry: { initial_ms: 50, max_ms: 100 }
  hdfs:
    type: hdfs
    namenodes: ['http://127.0.0.1:1']
    path: /data
    auth: { type: delegation_token, token: ${SECRETS[1]} }
    retry: { initial_ms: 50, max_ms: 100 }
`,
    'secrets.yaml',
  );
  const out = capture();
  const log = createLogger({ level: 'trace', gatewayId: 'log-gw', destination: out.stream });
  log.info({ config }, 'config loaded'); // the worst case: the whole config in one line
  log.info({ file: 'secrets.yaml', sinks: config.sinks }, 'applying');
  const gw = await Gateway.start(config, { log });
  await new Promise((r) => setTimeout(r, 1500)); // connect attempts fail and are logged
  await gw.stop();
  const text = out.text();
  expect(text).toContain('"msg":"gateway started"');
  expect(text).toContain('"msg":"config loaded"');
  expect(text).toContain('[redacted]');
  for (const s of SECRETS) expect(text, `secret ${s} leaked`).not.toContain(s);
  // Every line is JSON with a level and, below the gateway, a component name.
  const lines = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.every((l) => typeof l.level === 'string' && l.gateway === 'log-gw')).toBe(true);
  expect(lines.some((l) => l.component === 'kafka')).toBe(true);
});

test('redact() censors secret keys at any depth and passwords in URLs, and leaves the rest', () => {
  expect(
    redact({
      a: { b: { c: { d: { password: 'x', api_token: 'y', password_file: '/etc/p', user: 'u' } } } },
      url: 'https://bob:hunter2@example.net/x',
      list: [{ secret: 's' }],
    }),
  ).toEqual({
    a: {
      b: {
        c: { d: { password: '[redacted]', api_token: '[redacted]', password_file: '/etc/p', user: 'u' } },
      },
    },
    url: 'https://bob:[redacted]@example.net/x',
    list: [{ secret: '[redacted]' }],
  });
});

test('a repeated warning is written once per interval, with the count of suppressed ones', () => {
  const out = capture();
  const limited = new RateLimitedLog(
    createLogger({ level: 'info', gatewayId: 'g', destination: out.stream }),
    60_000,
  );
  for (let i = 0; i < 100; i++) limited.warn('dev-1/bad_payload', { device: 'dev-1' }, 'input rejected');
  limited.warn('dev-2/bad_payload', { device: 'dev-2' }, 'input rejected');
  const lines = out.text().split('\n').filter(Boolean);
  expect(lines).toHaveLength(2);
});
