// SPNEGO (RFC 4559) for the HDFS sink through the optional `kerberos` package (MIT GSSAPI underneath): the
// `Authorization: Negotiate` token for a namenode's HTTP service, and the check of its mutual-auth answer.
// The package is loaded only when a sink is configured with auth.type kerberos; without it, a clear error.
import { SluiceError } from '../../errors.js';

export interface KerberosSettings {
  /** The client principal, e.g. `sluice/gw1@EXAMPLE.COM`. */
  readonly principal: string;
  /** Client keytab; without one, the credential cache (KRB5CCNAME, kept by kinit/k5start) must hold a ticket. */
  readonly keytab?: string;
  /** krb5.conf to use instead of /etc/krb5.conf. */
  readonly krb5Conf?: string;
}

/** What a request to a Kerberos-protected URL carries, and how its answer proves the server's identity. */
export interface Negotiation {
  readonly authorization: string;
  /** Checks the server's `WWW-Authenticate: Negotiate <token>` (mutual authentication); throws when it fails. */
  verify(challenge: string | undefined): Promise<void>;
}

export type Negotiator = (url: URL) => Promise<Negotiation>;

/** A Negotiator that holds the process's Kerberos identity until released (when its sink closes). */
export interface Spnego {
  readonly negotiate: Negotiator;
  release(): void;
}

/** The part of the `kerberos` package's API used here (its own types are not imported: it is optional). */
interface GssClient {
  contextComplete: boolean;
  step(challenge: string): Promise<string>;
}
interface GssModule {
  initializeClient(
    service: string,
    options: { principal?: string; mechOID?: number; gssFlag?: number },
  ): Promise<GssClient>;
  readonly GSS_MECH_OID_SPNEGO: number;
  readonly GSS_C_MUTUAL_FLAG: number;
  readonly GSS_C_SEQUENCE_FLAG: number;
}

let loading: Promise<GssModule> | undefined;
/** The keytab/krb5.conf the environment is set up for now: MIT Kerberos takes them from there. */
let configured: string | undefined;
/** Identities (keytab + krb5.conf) of the open kerberos sinks, with how many sinks hold each. */
const holders = new Map<string, number>();
/** The process's own Kerberos environment, before a sink changed it. */
let original: NodeJS.ProcessEnv | undefined;
let caches = 0;

const INSTALL_HINT =
  'install it: apt-get install libkrb5-dev g++ make python3, then npm install kerberos (it builds against ' +
  'MIT Kerberos); or use auth.type delegation_token with a token file (hdfs fetchdt)';

async function loadGss(): Promise<GssModule> {
  // A variable, not a literal: the package is an optional dependency, absent where its native part did not build.
  const name = 'kerberos';
  loading ??= import(name).then(
    (mod: { default?: unknown }) => {
      const gss = (mod.default ?? mod) as Partial<GssModule>;
      if (typeof gss.initializeClient !== 'function' || typeof gss.GSS_MECH_OID_SPNEGO !== 'number') {
        throw new SluiceError('SLUICE_DEPENDENCY_MISSING', 'the `kerberos` package has an unknown API', {
          hint: 'install the version package.json names (npm ci)',
        });
      }
      return gss as GssModule;
    },
    (err: unknown) => {
      loading = undefined; // it may be installed later without a restart of the process that asked
      throw new SluiceError(
        'SLUICE_DEPENDENCY_MISSING',
        `auth.type kerberos needs the optional package \`kerberos\`, which does not load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
        { hint: INSTALL_HINT, cause: err },
      );
    },
  );
  return loading;
}

const identity = (s: KerberosSettings): string => `${s.keytab ?? ''}\n${s.krb5Conf ?? ''}`;

/**
 * MIT Kerberos reads its client keytab, credential cache and config from the environment, which is one per
 * process: a keytab gets its own in-memory cache (tickets fetched from it never land in, or come from, a
 * user's default cache). Two open sinks with different keytabs cannot share it: the second is refused (a
 * config reload that replaces the keytab works, as the old sink has closed).
 */
function configureEnvironment(s: KerberosSettings): void {
  const wanted = identity(s);
  if ([...holders.keys()].some((k) => k !== wanted)) {
    throw new SluiceError(
      'SLUICE_CONFIG_INVALID',
      'two hdfs sinks name different Kerberos keytabs or krb5.conf files; one gateway has one Kerberos identity',
      { hint: 'give every kerberos hdfs sink of this gateway the same auth.keytab and auth.krb5_conf' },
    );
  }
  if (configured === wanted) return;
  original ??= { ...process.env };
  const set = (name: string, value: string | undefined): void => {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  };
  // A new in-memory cache per keytab: tickets got with an earlier keytab must not stand in for this one's.
  const keytab = s.keytab;
  set('KRB5_CLIENT_KTNAME', keytab === undefined ? original.KRB5_CLIENT_KTNAME : `FILE:${keytab}`);
  set('KRB5CCNAME', keytab === undefined ? original.KRB5CCNAME : `MEMORY:sluice-${process.pid}-${++caches}`);
  set('KRB5_CONFIG', s.krb5Conf ?? original.KRB5_CONFIG);
  configured = wanted;
}

/** A Negotiator for `settings`: one fresh GSS context per request, for the HTTP service of the URL's host. */
export function spnego(settings: KerberosSettings): Spnego {
  const key = identity(settings);
  let held = true;
  holders.set(key, (holders.get(key) ?? 0) + 1);
  const release = (): void => {
    if (!held) return;
    held = false;
    const n = (holders.get(key) ?? 1) - 1;
    if (n > 0) holders.set(key, n);
    else holders.delete(key);
  };
  return { negotiate: (url) => negotiation(settings, url), release };
}

async function negotiation(settings: KerberosSettings, url: URL): Promise<Negotiation> {
  const gss = await loadGss();
  configureEnvironment(settings);
  // Hadoop's SPNEGO filter accepts HTTP/<host>, the host as the client named it (KerberosAuthenticator).
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let client: GssClient;
  let token: string;
  try {
    client = await gss.initializeClient(`HTTP@${host}`, {
      principal: settings.principal,
      mechOID: gss.GSS_MECH_OID_SPNEGO,
      gssFlag: gss.GSS_C_MUTUAL_FLAG | gss.GSS_C_SEQUENCE_FLAG,
    });
    token = await client.step('');
  } catch (err) {
    throw gssError(err, settings, host);
  }
  return {
    authorization: `Negotiate ${token}`,
    async verify(challenge: string | undefined): Promise<void> {
      const answer = /^Negotiate\s+(\S+)/i.exec(challenge ?? '')?.[1];
      if (answer === undefined) {
        if (client.contextComplete) return;
        throw new SluiceError(
          'SLUICE_AUTH',
          `${host} answered without a mutual-authentication token: its identity is not proven`,
          {
            hint: 'the namenode is not the Kerberos service it claims, or a proxy strips WWW-Authenticate',
          },
        );
      }
      try {
        await client.step(answer);
      } catch (err) {
        throw gssError(err, settings, host);
      }
    },
  };
}

/**
 * A GSSAPI failure as a Sluice error. Its text names principals and files, never key material. Only an
 * unreachable KDC passes by itself; the rest wants an operator (keytab, principal, clock, krb5.conf).
 */
export function gssError(err: unknown, s: KerberosSettings, host: string): SluiceError {
  const detail = err instanceof Error ? err.message : String(err);
  const where = `Kerberos for ${s.principal} to HTTP/${host}: ${detail}`;
  if (/cannot contact any KDC|Cannot find KDC|timed out|Connection refused/i.test(detail)) {
    return new SluiceError('SLUICE_UPSTREAM_UNREACHABLE', where, {
      retriable: true,
      hint: 'the KDC of the realm does not answer: check krb5.conf (auth.krb5_conf) and the network to it',
      cause: err,
    });
  }
  return new SluiceError('SLUICE_AUTH', where, {
    retriable: false,
    hint: gssHint(detail, s, host),
    cause: err,
  });
}

/** What to do, by the words MIT Kerberos uses (kinit -kt KEYTAB PRINCIPAL prints the same). */
function gssHint(detail: string, s: KerberosSettings, host: string): string {
  const keytab = s.keytab ?? 'the credential cache';
  if (/Server .*not found in Kerberos database/i.test(detail)) {
    return `the KDC knows no HTTP/${host}: name the namenodes by the host name of their SPNEGO principal`;
  }
  if (/not found in Kerberos database|unknown principal/i.test(detail)) {
    return `the KDC does not know the principal ${s.principal}: check auth.principal (and the realm)`;
  }
  if (/No key table entry|find client principal|no matching key/i.test(detail)) {
    return s.keytab === undefined
      ? 'no ticket for the principal: set auth.keytab, or keep a ticket in KRB5CCNAME (kinit/k5start)'
      : `${s.keytab} holds no key for ${s.principal}: check auth.principal and auth.keytab (klist -kt ${s.keytab})`;
  }
  if (/Preauthentication failed|integrity check|Decrypt|password incorrect|key version/i.test(detail)) {
    return `${keytab} holds an old or wrong key for ${s.principal}: export a fresh keytab (kadmin ktadd) and restart`;
  }
  if (/skew/i.test(detail))
    return 'the clocks of this gateway and the KDC differ too much: run NTP (chrony) on the gateway';
  return 'check auth.principal, auth.keytab and auth.krb5_conf (kinit -kt KEYTAB PRINCIPAL shows the cause)';
}
