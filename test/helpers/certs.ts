// Throwaway TLS material for tests, made with openssl: the primitives (a CA, a certificate it issues) that
// every peer's bundle is built on, and the plain bundle most tests need (makeTestCerts).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Long enough for the slowest suite, short enough that a leaked file is worthless. */
const DAYS = '7';

/** `ec` is P-256 (fast); `rsa` is 2048 bits, what the JVM peers' keystores are made from. Both PKCS#8 PEM. */
export type KeyType = 'ec' | 'rsa';

/** A certificate and its private key, as PEM file paths. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

/** A CA: its PEM files, and the directory the certificates it issues go to unless told otherwise. */
export interface Ca extends KeyPair {
  readonly dir: string;
}

export interface IssueOptions {
  /** Base name of the files: `<name>.pem`, `<name>.key` (plus `.csr`, `.ext`) in `dir`. */
  readonly name: string;
  readonly cn: string;
  /** Host names and IP addresses for subjectAltName; an IP literal becomes `IP:`, anything else `DNS:`. */
  readonly sans?: readonly string[];
  /** extendedKeyUsage; left out of the certificate when empty. */
  readonly usage?: readonly ('serverAuth' | 'clientAuth')[];
  readonly keyType?: KeyType;
  /** Where the files go; the CA's directory by default. */
  readonly dir?: string;
}

/** Runs openssl in `dir`; its stderr is in the error, and a missing binary says how to install it. */
export async function openssl(dir: string, args: readonly string[]): Promise<void> {
  try {
    await exec('openssl', args, { cwd: dir });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('openssl is missing: apt-get install -y openssl');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

async function newKey(dir: string, file: string, keyType: KeyType): Promise<void> {
  const alg =
    keyType === 'rsa'
      ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
      : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await openssl(dir, ['genpkey', ...alg, '-out', file]);
}

/** A self-signed CA `<name>.pem` / `<name>.key` in `dir`, CN `cn` (the name by default). */
export async function makeCa(
  dir: string,
  name: string,
  options: { cn?: string; keyType?: KeyType } = {},
): Promise<Ca> {
  await newKey(dir, `${name}.key`, options.keyType ?? 'ec');
  // prettier-ignore
  await openssl(dir, [
    'req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', DAYS,
    '-subj', `/CN=${options.cn ?? name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { dir, cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/** A key and a certificate signed by `ca`. */
export async function issue(ca: Ca, options: IssueOptions): Promise<KeyPair> {
  const { name, cn, sans = [], usage = [] } = options;
  const dir = options.dir ?? ca.dir;
  await newKey(dir, `${name}.key`, options.keyType ?? 'ec');
  await openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  const ext = [
    sans.length > 0 ? `subjectAltName=${sans.map((s) => (isIP(s) ? `IP:${s}` : `DNS:${s}`)).join(',')}` : '',
    usage.length > 0 ? `extendedKeyUsage=${usage.join(',')}` : '',
  ].filter((line) => line !== '');
  await writeFile(join(dir, `${name}.ext`), ext.map((line) => `${line}\n`).join(''));
  // A random serial rather than -CAcreateserial: certificates of one CA may be issued concurrently and into
  // other directories, and a serial file shared that way would race.
  // prettier-ignore
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key,
    '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-out', `${name}.pem`, '-days', DAYS, '-extfile', `${name}.ext`,
  ]);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

export interface TestCerts {
  /** The CA, for a test that needs more certificates from it (see issue). */
  readonly issuer: Ca;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Client certificate and key, CN `clientCn`. */
  readonly clientCert: string;
  readonly clientKey: string;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate with CN `clientCn`, EC keys. */
export async function makeTestCerts(dir: string, clientCn = 'sluice-test-client'): Promise<TestCerts> {
  const ca = await makeCa(dir, 'ca', { cn: 'sluice-test-ca' });
  const [server, client] = await Promise.all([
    issue(ca, { name: 'server', cn: '127.0.0.1', sans: ['127.0.0.1'], usage: ['serverAuth'] }),
    issue(ca, { name: 'client', cn: clientCn, usage: ['clientAuth'] }),
  ]);
  return {
    issuer: ca,
    ca: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
  };
}
