// Certificates for the Kafka peer's TLS listeners, built on test/helpers/certs.ts: a test CA, one broker
// certificate that names only `localhost` (so a client that connects to 127.0.0.1 with host name checks on
// must fail), a client certificate for mutual TLS, and a client certificate from a CA the brokers do not trust.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issue, makeCa } from '../../helpers/certs.js';

export interface KafkaCerts {
  readonly dir: string;
  /** PEM of the CA that signed the broker and client certificates, and its key (see clientCert). */
  readonly caFile: string;
  readonly caKey: string;
  /** Broker key (PKCS#8) followed by its certificate: Kafka's PEM keystore. */
  readonly brokerKeystore: string;
  /** Client certificate with CN=sluice-client, and its key. */
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate signed by another CA, which the brokers must refuse. */
  readonly strangerCert: string;
  readonly strangerKey: string;
}

// RSA throughout: the brokers' JVM reads these PEM files as its keystore and truststore.
const rsa = { keyType: 'rsa' } as const;

/** Makes every certificate in `dir` (about a second: five RSA keys). */
export async function makeCerts(dir: string): Promise<KafkaCerts> {
  const [ca, strangerCa] = await Promise.all([makeCa(dir, 'ca', rsa), makeCa(dir, 'stranger-ca', rsa)]);
  const client = { cn: 'sluice-client', usage: ['clientAuth'], ...rsa } as const;
  const [broker, mine, stranger] = await Promise.all([
    // Only `localhost`, no IP: the TLS listener tests rely on 127.0.0.1 failing host name checks.
    issue(ca, {
      name: 'broker',
      cn: 'localhost',
      sans: ['localhost'],
      usage: ['serverAuth', 'clientAuth'],
      ...rsa,
    }),
    issue(ca, { name: 'client', ...client }),
    issue(strangerCa, { name: 'stranger', ...client }),
  ]);
  const brokerKeystore = join(dir, 'broker-keystore.pem');
  const [key, cert, caPem] = await Promise.all(
    [broker.key, broker.cert, ca.cert].map((f) => readFile(f, 'utf8')),
  );
  await writeFile(brokerKeystore, `${key}${cert}${caPem}`);
  return {
    dir,
    caFile: ca.cert,
    caKey: ca.key,
    brokerKeystore,
    clientCert: mine.cert,
    clientKey: mine.key,
    strangerCert: stranger.cert,
    strangerKey: stranger.key,
  };
}

let issued = 0;

/**
 * A client certificate from the cluster's CA for a principal of its own (User:<cn>, by the brokers' mapping
 * rule), written into `dir`: for tests that need a principal no ACL names yet.
 */
export async function clientCert(
  certs: Pick<KafkaCerts, 'caFile' | 'caKey'>,
  dir: string,
  cn: string,
): Promise<{ cert_file: string; key_file: string }> {
  const ca = { dir, cert: certs.caFile, key: certs.caKey };
  const name = `client-${process.pid}-${++issued}`;
  const pair = await issue(ca, { name, cn, usage: ['clientAuth'], ...rsa });
  return { cert_file: pair.cert, key_file: pair.key };
}
