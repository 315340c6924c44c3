// The secure HDFS peer's TLS material, made with openssl as the Kafka peer's is: a test CA and one server
// certificate for every NameNode and DataNode HTTPS endpoint, naming 127.0.0.1 and localhost (all of
// them bind to loopback). The launcher turns the PEM files into Java keystores itself.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface HdfsCerts {
  readonly dir: string;
  /** PEM of the CA: what a client trusts for swebhdfs://. */
  readonly caFile: string;
  /** The server certificate (PEM) and its key (PKCS#8 PEM). */
  readonly serverCert: string;
  readonly serverKey: string;
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

const key = (dir: string, name: string): Promise<void> =>
  openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`]);

/** Makes the CA and the server certificate in `dir` (well under a second: two RSA keys). */
export async function makeHdfsCerts(dir: string): Promise<HdfsCerts> {
  await key(dir, 'ca');
  // prettier-ignore
  await openssl(dir, [
    'req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.pem', '-days', '7', '-subj', '/CN=sluice-hdfs-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await key(dir, 'server');
  await openssl(dir, ['req', '-new', '-key', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  await writeFile(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  // prettier-ignore
  await openssl(dir, [
    'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(Date.now()),
    '-out', 'server.pem', '-days', '7', '-extfile', 'server.ext',
  ]);
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
  };
}
