// The `mqtt_broker` source's config schema, the single source of truth of its options and types (broker.ts
// imports it from here, not from the front file index.ts).
import { z } from 'zod';
import { byteSize, configFile, durationMs } from '../../config/common.js';
import { aclRuleSchema } from './acl.js';
import { clientIdBindingSchema, passwordHash } from './auth.js';
import { DEFAULT_LISTENERS, listenerSchema } from './listeners.js';
import { mappingOptions } from '../mqtt/mapping.js';

export const schema = z
  .strictObject({
    type: z.literal('mqtt_broker'),
    listeners: z
      .array(listenerSchema)
      .min(1)
      .default(DEFAULT_LISTENERS)
      .describe(
        'Where the broker listens. Omitted: TCP on 127.0.0.1:1883 only, anonymous allowed there; every configured listener refuses anonymous clients unless it sets allow_anonymous.',
      ),
    users: z
      .record(z.string().min(1), passwordHash)
      .default({})
      .describe(
        'Per-device credentials: username -> scrypt hash printed by `sluice passwd USERNAME`. Plain passwords are never accepted here.',
      ),
    password_file: configFile(
      'File of `username:hash` lines written by `sluice passwd -f FILE USERNAME`, read at start (in addition to `users`).',
      { what: 'password file', missingHint: 'create it with `sluice passwd -f FILE USERNAME`' },
    ).optional(),
    acl: z
      .array(aclRuleSchema)
      .optional()
      .describe(
        'Per-device publish/subscribe permissions. Omitted: any admitted client may publish and subscribe anywhere except `$` topics (`$SYS/`).',
      ),
    client_id_binding: clientIdBindingSchema,
    max_packet_bytes: byteSize
      .default(1024 * 1024)
      .describe(
        "Largest MQTT packet a client may send (as mosquitto's max_packet_size); a larger one closes the connection as soon as its header arrives, before it is buffered. MQTT allows 256 MiB.",
      ),
    max_connections: z
      .number()
      .int()
      .min(0)
      .default(1000)
      .describe('Most simultaneous connections over all listeners (0: no cap); more are closed at once.'),
    max_connections_per_ip: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'Most simultaneous connections from one IP address (0: no cap), so that one host cannot take all of max_connections; more are closed at once. Local apps on the gateway share 127.0.0.1.',
      ),
    connect_rate_per_s: z
      .number()
      .min(0)
      .default(100)
      .describe(
        'New connections accepted per second over all listeners (0: unlimited); more are closed at once.',
      ),
    connect_burst: z
      .number()
      .int()
      .min(1)
      .default(200)
      .describe('Connections accepted at once before connect_rate_per_s applies.'),
    connect_timeout_ms: durationMs
      .min(100)
      .default(30_000)
      .describe('How long a new connection may take to send CONNECT.'),
    ...mappingOptions,
  })
  .superRefine((c, ctx) => {
    // A bound client id needs a user to bind it to: the binding would refuse every anonymous client.
    if (c.client_id_binding === 'none') return;
    for (const l of c.listeners) {
      if (!l.allow_anonymous) continue;
      ctx.addIssue({
        code: 'custom',
        path: ['client_id_binding'],
        message: `binds client ids to usernames, so anonymous clients cannot connect, but listener ${l.type}://${l.host}:${l.port} allows them (the default listener does when \`listeners\` is omitted): list the listeners, with allow_anonymous false`,
      });
    }
  })
  .describe('Embedded MQTT 3.1/3.1.1 broker; QoS 1/2 messages are acknowledged after the durable append.');

export type MqttBrokerConfig = z.output<typeof schema>;
