// The secure HDFS peer's TLS material, built on test/helpers/certs.ts: a test CA and one server certificate
// for every NameNode and DataNode HTTPS endpoint, naming 127.0.0.1 and localhost (all of them bind to
// loopback). The launcher turns the PEM files into Java keystores itself.
import { issue, makeCa } from '../../helpers/certs.js';

export interface HdfsCerts {
  readonly dir: string;
  /** PEM of the CA: what a client trusts for swebhdfs://. */
  readonly caFile: string;
  /** The server certificate (PEM) and its key (PKCS#8 PEM). */
  readonly serverCert: string;
  readonly serverKey: string;
}

/** Makes `ca.pem` and `server.pem`/`server.key` in `dir`, the names Secure.java reads (two RSA keys). */
export async function makeHdfsCerts(dir: string): Promise<HdfsCerts> {
  // RSA: the launcher converts these with the JDK, which gets them into its keystores as PKCS#8 RSA.
  const ca = await makeCa(dir, 'ca', { cn: 'sluice-hdfs-test-ca', keyType: 'rsa' });
  const server = await issue(ca, {
    name: 'server',
    cn: 'localhost',
    sans: ['127.0.0.1', 'localhost'],
    usage: ['serverAuth', 'clientAuth'],
    keyType: 'rsa',
  });
  return { dir, caFile: ca.cert, serverCert: server.cert, serverKey: server.key };
}
