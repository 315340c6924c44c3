// The delegation token the HDFS sink sends (WebHDFS `delegation=`): given inline, read from a file an operator
// rotates (re-read whenever the file changes), or fetched and renewed by the sink itself over SPNEGO. It
// knows the token's expiry and max lifetime, and what to do as either nears: renew, fetch anew, or say so.
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { SluiceError } from '../../errors.js';
import type { WebHdfsClient } from './client.js';
import { spnego, type Spnego } from './kerberos.js';
import type { HdfsSinkConfig } from './schema.js';

export type TokenSource =
  | { readonly kind: 'inline'; readonly token: string }
  | { readonly kind: 'file'; readonly file: string }
  | { readonly kind: 'kerberos'; readonly spnego: Spnego; readonly principal: string };

/** The token keeper for the configured auth; none for pseudo auth, which sends no token. */
export function delegationTokens(
  auth: HdfsSinkConfig['auth'],
  client: WebHdfsClient,
  log: Logger,
): DelegationTokens | undefined {
  if (auth.type === 'pseudo') return undefined;
  if (auth.type === 'delegation_token') {
    const source: TokenSource =
      auth.token !== undefined
        ? { kind: 'inline', token: auth.token }
        : { kind: 'file', file: auth.token_file ?? '' };
    return new DelegationTokens(source, client, log);
  }
  const settings = {
    principal: auth.principal,
    ...(auth.keytab === undefined ? {} : { keytab: auth.keytab }),
    ...(auth.krb5_conf === undefined ? {} : { krb5Conf: auth.krb5_conf }),
  };
  return new DelegationTokens(
    { kind: 'kerberos', principal: auth.principal, spnego: spnego(settings) },
    client,
    log,
  );
}

/** Renewed (or fetched anew) once this share of the time to its expiry has passed. */
const RENEW_AT = 0.75;
/** A renewal or fetch that failed while the token still works is tried again this soon (or sooner). */
const RETRY_MS = 30_000;

/** What a token's identifier says (AbstractDelegationTokenIdentifier), none of it secret. */
export interface TokenFacts {
  readonly owner: string;
  readonly renewer: string;
  readonly issueDate: number;
  readonly maxDate: number;
}

export class DelegationTokens {
  private token: string | undefined;
  private facts: TokenFacts | undefined;
  private fileStamp: string | undefined;
  /** Kerberos: when the namenode forgets the token unless renewed (from its last renewal). */
  private expiry = 0;
  private refreshAt = 0;
  /** Kerberos: a renewal no longer moves the expiry (max lifetime reached): the next refresh fetches. */
  private exhausted = false;
  private refreshing: Promise<string> | undefined;

  constructor(
    private readonly source: TokenSource,
    private readonly client: WebHdfsClient,
    private readonly log: Logger,
  ) {}

  /** The token to send now; may ask the namenode first (kerberos) or read the file again. */
  async current(): Promise<string> {
    const s = this.source;
    if (s.kind !== 'kerberos') return this.given(s);
    if (this.token !== undefined && Date.now() < this.refreshAt) return this.token;
    this.refreshing ??= this.refresh(s).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** The namenode refused the token (expired, cancelled): the next request fetches or re-reads one. */
  invalidate(): void {
    this.token = undefined;
    this.facts = undefined;
    this.fileStamp = undefined;
  }

  /** A token the sink fetched itself is cancelled when it stops, so the namenode need not keep it. */
  async release(): Promise<void> {
    const s = this.source;
    const token = this.token;
    if (s.kind !== 'kerberos') return;
    try {
      if (token !== undefined) await this.client.cancelDelegationToken(token, s.spnego.negotiate);
    } catch (err) {
      // Harmless: the namenode drops it at its expiry anyway. Said, as the operator may wonder about it.
      this.log.info({ err: String(err) }, 'could not cancel the delegation token on close');
    } finally {
      this.invalidate();
      s.spnego.release();
    }
  }

  /** For health and logs: whose token, until when (no secret in it). */
  describe(): string | undefined {
    const f = this.facts;
    if (f === undefined) return undefined;
    const expiry = this.expiry > 0 ? `, expires ${iso(this.expiry)}` : '';
    return `delegation token of ${f.owner}${expiry}, max lifetime ${iso(f.maxDate)}`;
  }

  private given(s: Exclude<TokenSource, { kind: 'kerberos' }>): string {
    if (s.kind === 'inline') this.token ??= s.token;
    else {
      const stamp = fileStamp(s.file);
      if (this.token === undefined || stamp !== this.fileStamp) {
        this.token = readToken(s.file);
        this.fileStamp = stamp;
        this.facts = undefined;
      }
    }
    this.facts ??= tokenFacts(this.token);
    const max = this.facts?.maxDate;
    if (max !== undefined && Date.now() >= max) {
      // Token auth cannot renew a token (only Kerberos can): refused here, before the namenode says so.
      const where = s.kind === 'file' ? `in ${s.file}` : 'in auth.token';
      throw new SluiceError(
        'SLUICE_AUTH',
        `the delegation token ${where} reached its max lifetime at ${iso(max)}`,
        {
          retriable: s.kind === 'file', // the file may be rotated
          hint:
            s.kind === 'file'
              ? `write a new token into ${s.file} (hdfs fetchdt, then the URL-safe string); the sink re-reads it`
              : 'fetch a new token and put it in the config, or use token_file or auth.type kerberos',
        },
      );
    }
    return this.token;
  }

  private async refresh(s: Extract<TokenSource, { kind: 'kerberos' }>): Promise<string> {
    const token = this.token;
    const now = Date.now();
    if (token !== undefined && !this.exhausted) {
      try {
        return this.renewed(token, await this.client.renewDelegationToken(token, s.spnego.negotiate));
      } catch (err) {
        if (now < this.expiry - 1_000 && retriable(err)) return this.later(token, err, 'renew');
        if (!(err instanceof SluiceError) || err.code !== 'SLUICE_AUTH' || retriable(err)) throw err;
        // Cancelled, expired, or past its max lifetime: a new one is fetched below.
        this.log.warn(
          { err: err.message },
          'the namenode refused to renew the delegation token; fetching a new one',
        );
      }
    }
    try {
      const fresh = await this.client.getDelegationToken(s.spnego.negotiate);
      // Renewed at once: the answer is its expiry, which the fetch does not tell (the renew interval is the cluster's).
      const expiry = await this.client.renewDelegationToken(fresh, s.spnego.negotiate);
      this.token = fresh;
      this.facts = tokenFacts(fresh);
      this.exhausted = false;
      this.expiry = 0; // the old token's: not a bound for the new one's first renewal
      this.log.info(
        {
          principal: s.principal,
          expiry: iso(expiry),
          maxLifetime: this.facts ? iso(this.facts.maxDate) : undefined,
        },
        'delegation token fetched over SPNEGO',
      );
      return this.renewed(fresh, expiry);
    } catch (err) {
      if (token !== undefined && now < this.expiry - 1_000 && retriable(err))
        return this.later(token, err, 'fetch');
      this.invalidate();
      throw err;
    }
  }

  private renewed(token: string, expiry: number): string {
    const now = Date.now();
    const max = this.facts?.maxDate ?? Number.POSITIVE_INFINITY;
    // A renewal capped by the max lifetime cannot be repeated usefully: fetch a new token before that.
    this.exhausted = expiry >= max || (this.expiry > 0 && expiry <= this.expiry);
    this.expiry = expiry;
    this.refreshAt = now + Math.max(0, (Math.min(expiry, max) - now) * RENEW_AT);
    this.log.debug(
      { expiry: iso(expiry), nextRefresh: iso(this.refreshAt), lastRenewal: this.exhausted },
      'delegation token renewed',
    );
    return token;
  }

  /** The token still works for a while: go on with it and try again soon, loudly. */
  private later(token: string, err: unknown, what: string): string {
    const wait = Math.min(RETRY_MS, Math.max(1_000, (this.expiry - Date.now()) / 4));
    this.refreshAt = Date.now() + wait;
    this.log.warn(
      {
        err: err instanceof Error ? err.message : String(err),
        retryInMs: Math.round(wait),
        expiry: iso(this.expiry),
      },
      `could not ${what} the delegation token; the current one works until its expiry`,
    );
    return token;
  }
}

function retriable(err: unknown): boolean {
  return err instanceof SluiceError ? err.retriable : true;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function fileStamp(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (err) {
    // readToken says what is wrong with the file; a missing stamp only forces that read.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SluiceError('SLUICE_AUTH', `cannot stat the delegation token file ${file}`, { cause: err });
  }
}

function readToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new SluiceError('SLUICE_AUTH', `cannot read the delegation token file ${file}`, {
      retriable: true, // unlike other auth faults: the token file may be written later (fetchdt, a renewal job)
      hint: 'write a token there (hdfs fetchdt --webservice ... then extract the URL-safe string)',
      cause: err,
    });
  }
}

/**
 * The identifier inside a URL-safe token string (Hadoop's Token.encodeToUrlString: vint-prefixed identifier,
 * password, kind, service; the identifier: version, owner, renewer, real user, issue and max date as vlongs).
 * Undefined for a token of another shape: then only the namenode's answers tell its state.
 */
export function tokenFacts(urlString: string): TokenFacts | undefined {
  const bytes = Buffer.from(urlString, 'base64url');
  const r = { at: 0 };
  try {
    const idLength = vlong(bytes, r);
    const id = bytes.subarray(r.at, r.at + idLength);
    if (id.length !== idLength || idLength < 1) return undefined;
    const i = { at: 1 }; // after the version byte
    const owner = text(id, i);
    const renewer = text(id, i);
    text(id, i); // the real user (a proxy user's)
    const issueDate = vlong(id, i);
    const maxDate = vlong(id, i);
    if (!(issueDate > 0 && maxDate >= issueDate)) return undefined;
    return { owner, renewer, issueDate, maxDate };
  } catch (err) {
    if (err instanceof RangeError) return undefined; // cut short: not a token this reader knows
    throw err;
  }
}

/** Hadoop's WritableUtils.readVLong: one byte for -112..127, else a length byte and big-endian bytes. */
function vlong(b: Buffer, r: { at: number }): number {
  const first = b.readInt8(r.at++);
  if (first >= -112) return first;
  const negative = first < -120;
  const size = negative ? -(first + 120) : -(first + 112);
  let v = 0n;
  for (let k = 0; k < size; k++) v = (v << 8n) | BigInt(b.readUInt8(r.at++));
  return Number(negative ? ~v : v);
}

function text(b: Buffer, r: { at: number }): string {
  const n = vlong(b, r);
  if (n < 0 || r.at + n > b.length) throw new RangeError('text past the end');
  const s = b.toString('utf8', r.at, r.at + n);
  r.at += n;
  return s;
}
