// Certificates for the Kafka peer's TLS listeners, made with openssl: a test CA, one broker certificate
// that names only `localhost` (so a client that connects to 127.0.0.1 with host name checks on must fail),
// a client certificate for mutual TLS, and a client certificate from a CA the brokers do not trust.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

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

async function openssl(dir: string, args: readonly string[]): Promise<void> {
  try {
    await exec('openssl', args, { cwd: dir });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('openssl is missing: apt-get install -y openssl');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

function rsaKey(dir: string, name: string): Promise<void> {
  return openssl(dir, [
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
    '-out',
    `${name}.key`,
  ]);
}

async function ca(dir: string, name: string): Promise<void> {
  await rsaKey(dir, name);
  await openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '7',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A key and a certificate for `cn` in `dir`, signed by the CA whose PEM and key files are given. */
async function leaf(
  dir: string,
  name: string,
  signer: { pem: string; key: string },
  cn: string,
  ext: string,
): Promise<{ cert_file: string; key_file: string }> {
  await rsaKey(dir, name);
  await openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    signer.pem,
    '-CAkey',
    signer.key,
    '-set_serial',
    String(Date.now() * 1000 + ++issued),
    '-out',
    `${name}.pem`,
    '-days',
    '7',
    '-extfile',
    `${name}.ext`,
  ]);
  return { cert_file: join(dir, `${name}.pem`), key_file: join(dir, `${name}.key`) };
}

let issued = 0;
const signer = (dir: string, name: string) => ({
  pem: join(dir, `${name}.pem`),
  key: join(dir, `${name}.key`),
});

/** Makes every certificate in `dir` (about a second: five RSA keys). */
export async function makeCerts(dir: string): Promise<KafkaCerts> {
  await ca(dir, 'ca');
  await ca(dir, 'stranger-ca');
  await leaf(
    dir,
    'broker',
    signer(dir, 'ca'),
    'localhost',
    'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await leaf(dir, 'client', signer(dir, 'ca'), 'sluice-client', 'extendedKeyUsage=clientAuth\n');
  await leaf(dir, 'stranger', signer(dir, 'stranger-ca'), 'sluice-client', 'extendedKeyUsage=clientAuth\n');
  const keystore = join(dir, 'broker-keystore.pem');
  const [key, cert, caPem] = await Promise.all(
    ['broker.key', 'broker.pem', 'ca.pem'].map((f) => readFile(join(dir, f), 'utf8')),
  );
  await writeFile(keystore, `${key}${cert}${caPem}`);
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    brokerKeystore: keystore,
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    strangerCert: join(dir, 'stranger.pem'),
    strangerKey: join(dir, 'stranger.key'),
  };
}

/**
 * A client certificate from the cluster's CA for a principal of its own (User:<cn>, by the brokers' mapping
 * rule), written into `dir`: for tests that need a principal no ACL names yet.
 */
export async function clientCert(
  certs: Pick<KafkaCerts, 'caFile' | 'caKey'>,
  dir: string,
  cn: string,
): Promise<{ cert_file: string; key_file: string }> {
  const name = `client-${process.pid}-${issued + 1}`;
  return leaf(dir, name, { pem: certs.caFile, key: certs.caKey }, cn, 'extendedKeyUsage=clientAuth\n');
}
