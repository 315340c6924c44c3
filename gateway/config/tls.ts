// Connection security, written once for every component (as Telegraf embeds one tlsint.ClientConfig): the
// client TLS options of kafka, hdfs, the mqtt source and the fleet channel, the server TLS fields of the
// broker's listeners, and the one reader that turns either into Node's tls options.
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import { z } from 'zod';
import { configFile } from './common.js';
import { readConfigFile } from './files.js';

/** The `what` of each file, shared by the host checks (`cannot read TLS key ...`) and the reader below. */
const WHAT = { ca: 'TLS CA file', cert: 'TLS certificate', key: 'TLS key' } as const;

/** The `tls:` group of a component that connects out: present means the connection is verified as below. */
export const tlsClientSchema = z
  .strictObject({
    ca_file: configFile(
      "PEM file of the CA(s) that signed the peer's certificate; the system CAs when omitted.",
      { what: WHAT.ca },
    ).optional(),
    cert_file: configFile('PEM client certificate, for peers that authenticate clients by certificate.', {
      what: WHAT.cert,
    }).optional(),
    key_file: configFile('PEM private key of cert_file.', { what: WHAT.key }).optional(),
    verify_hostname: z
      .boolean()
      .default(true)
      .describe(
        "Check that the peer's certificate names the host connected to (the chain is always checked). " +
          'Turn off only for IP-only labs.',
      ),
  })
  .refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), {
    message: 'cert_file and key_file go together',
    path: ['key_file'],
  });

export type TlsClientConfig = z.output<typeof tlsClientSchema>;

/**
 * The certificate fields of a listener, spread into its schema (a listener's other options sit beside them);
 * the same names as the client group.
 */
export const tlsServerFields = {
  cert_file: configFile('PEM server certificate (chain).', { what: WHAT.cert }),
  key_file: configFile('PEM private key of the server certificate.', { what: WHAT.key }),
  ca_file: configFile('PEM CA bundle that signs client certificates.', { what: WHAT.ca }).optional(),
};

export interface TlsServerFiles {
  readonly cert_file: string;
  readonly key_file: string;
  readonly ca_file?: string | undefined;
}

/** Node's tls.connect options, in the narrow form that KafkaJS, MQTT.js and https.Agent all accept. */
export interface ClientTlsOptions extends Pick<ConnectionOptions, 'checkServerIdentity'> {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized: true;
}

/** Node's options for a client connection: the files read now (errors name the file and what to do). */
export function clientTlsOptions(tls: TlsClientConfig): ClientTlsOptions {
  return {
    ...(tls.ca_file === undefined ? {} : { ca: readConfigFile(tls.ca_file, WHAT.ca) }),
    ...(tls.cert_file === undefined ? {} : { cert: readConfigFile(tls.cert_file, WHAT.cert) }),
    ...(tls.key_file === undefined ? {} : { key: readConfigFile(tls.key_file, WHAT.key) }),
    rejectUnauthorized: true,
    // Only the host name check can be turned off (IP-addressed lab peers); the chain is still verified.
    ...(tls.verify_hostname ? {} : { checkServerIdentity: () => undefined }),
  };
}

/** Node's options for a listener: its certificate and key, and the CA that client certificates must chain to. */
export function serverTlsOptions(tls: TlsServerFiles): TlsOptions {
  return {
    cert: readConfigFile(tls.cert_file, WHAT.cert),
    key: readConfigFile(tls.key_file, WHAT.key),
    ...(tls.ca_file ? { ca: readConfigFile(tls.ca_file, WHAT.ca) } : {}),
  };
}
