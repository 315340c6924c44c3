// Delegation tokens as the namenode's DelegationTokenSecretManager issues them, in Hadoop's own wire form:
// Token.encodeToUrlString() is URL-safe base64 of the Writable (identifier, password, kind, service), the
// identifier being AbstractDelegationTokenIdentifier.write(), the password HMAC-SHA1 of it under a master key.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import { hadoop } from './errors.js';

/** WebHdfsConstants.WEBHDFS_TOKEN_KIND (http; swebhdfs would be "SWEBHDFS delegation"). */
export const WEBHDFS_TOKEN_KIND = 'WEBHDFS delegation';
const IDENTIFIER_KIND = 'HDFS_DELEGATION_TOKEN';

export interface TokenIdentifier {
  owner: string;
  renewer: string;
  realUser: string;
  issueDate: number;
  maxDate: number;
  sequenceNumber: number;
  masterKeyId: number;
}

export interface TokenManagerOptions {
  /** dfs.namenode.delegation.token.renew-interval. */
  renewIntervalMs: number;
  /** dfs.namenode.delegation.token.max-lifetime. */
  maxLifetimeMs: number;
  /** The token's service: the namenode RPC address. */
  service: string;
  now: () => number;
}

export class DelegationTokens {
  private readonly key = randomBytes(20);
  private readonly masterKeyId = 1;
  private sequence = 0;
  /** currentTokens: sequence number to expiry (renewDate). */
  private readonly live = new Map<number, number>();

  constructor(private readonly options: TokenManagerOptions) {}

  /** createToken: the encoded urlString of a fresh token. */
  issue(owner: string, renewer: string): string {
    const now = this.options.now();
    const id: TokenIdentifier = {
      owner,
      renewer,
      realUser: '',
      issueDate: now,
      maxDate: now + this.options.maxLifetimeMs,
      sequenceNumber: ++this.sequence,
      masterKeyId: this.masterKeyId,
    };
    this.live.set(id.sequenceNumber, Math.min(id.maxDate, now + this.options.renewIntervalMs));
    const identifier = encodeIdentifier(id);
    const out = new WritableOut();
    out.bytes(identifier);
    out.bytes(this.password(identifier));
    out.text(WEBHDFS_TOKEN_KIND);
    out.text(this.options.service);
    return out.done().toString('base64url');
  }

  /** verifyToken + checkToken, as the namenode runs them for a request that carries `delegation=`. */
  verify(urlString: string): TokenIdentifier {
    const { id, identifier, password } = decodeToken(urlString);
    const expiry = this.live.get(id.sequenceNumber);
    if (expiry === undefined) throw hadoop.invalidToken(`token ${formatTokenId(id)} can't be found in cache`);
    if (!this.passwordMatches(identifier, password)) {
      throw hadoop.invalidToken(`token ${formatTokenId(id)} is invalid, password doesn't match`);
    }
    const now = this.options.now();
    if (expiry < now) {
      throw hadoop.invalidToken(
        `token ${formatTokenId(id)} is expired, current time: ${formatTime(now)} expected renewal time: ${formatTime(expiry)}`,
      );
    }
    return id;
  }

  /** renewToken: only the named renewer, never past maxDate; the new expiry is returned. */
  renew(urlString: string, renewer: string): number {
    const { id, identifier, password } = decodeToken(urlString);
    const now = this.options.now();
    if (id.maxDate < now) {
      throw hadoop.invalidToken(
        `${renewer} tried to renew an expired token ${formatTokenId(id)} max expiration date: ${formatTime(id.maxDate)} currentTime: ${formatTime(now)}`,
      );
    }
    if (id.renewer === '') {
      throw hadoop.accessControl(`${renewer} tried to renew a token ${formatTokenId(id)} without a renewer`);
    }
    if (id.renewer !== renewer) {
      throw hadoop.accessControl(
        `${renewer} tries to renew a token ${formatTokenId(id)} with non-matching renewer ${id.renewer}`,
      );
    }
    if (!this.passwordMatches(identifier, password)) {
      throw hadoop.accessControl(
        `${renewer} is trying to renew a token ${formatTokenId(id)} with wrong password`,
      );
    }
    if (!this.live.has(id.sequenceNumber)) {
      throw hadoop.invalidToken(`Renewal request for unknown token ${formatTokenId(id)}`);
    }
    const expiry = Math.min(id.maxDate, now + this.options.renewIntervalMs);
    this.live.set(id.sequenceNumber, expiry);
    return expiry;
  }

  /** cancelToken: the owner or the renewer. */
  cancel(urlString: string, canceller: string): void {
    const { id } = decodeToken(urlString);
    if (canceller !== id.owner && (id.renewer === '' || canceller !== id.renewer)) {
      throw hadoop.accessControl(`${canceller} is not authorized to cancel the token ${formatTokenId(id)}`);
    }
    if (!this.live.delete(id.sequenceNumber))
      throw hadoop.invalidToken(`Token not found ${formatTokenId(id)}`);
  }

  private password(identifier: Buffer): Buffer {
    return createHmac('sha1', this.key).update(identifier).digest();
  }

  private passwordMatches(identifier: Buffer, password: Buffer): boolean {
    const expected = this.password(identifier);
    return expected.length === password.length && timingSafeEqual(expected, password);
  }
}

/** Token.decodeFromUrlString + readFields; commons-codec accepts both base64 alphabets. */
export function decodeToken(urlString: string): {
  id: TokenIdentifier;
  identifier: Buffer;
  password: Buffer;
} {
  try {
    const input = new WritableIn(Buffer.from(urlString, 'base64'));
    const identifier = input.bytes();
    const password = input.bytes();
    input.text();
    input.text();
    return { id: decodeIdentifier(identifier), identifier, password };
  } catch (err) {
    if (err instanceof Error && err.message === 'EOF') throw hadoop.eof(null);
    throw err;
  }
}

/** AbstractDelegationTokenIdentifier.write. */
function encodeIdentifier(id: TokenIdentifier): Buffer {
  const out = new WritableOut();
  out.byte(0);
  out.text(id.owner);
  out.text(id.renewer);
  out.text(id.realUser);
  out.vlong(id.issueDate);
  out.vlong(id.maxDate);
  out.vlong(id.sequenceNumber);
  out.vlong(id.masterKeyId);
  return out.done();
}

function decodeIdentifier(buf: Buffer): TokenIdentifier {
  const input = new WritableIn(buf);
  const version = input.byte();
  if (version !== 0) throw hadoop.io(`Unknown version of delegation token ${version}`);
  return {
    owner: input.text(),
    renewer: input.text(),
    realUser: input.text(),
    issueDate: input.vlong(),
    maxDate: input.vlong(),
    sequenceNumber: input.vlong(),
    masterKeyId: input.vlong(),
  };
}

/** formatTokenId: "(" + DelegationTokenIdentifier.toString() + ")". */
export function formatTokenId(id: TokenIdentifier): string {
  return (
    `(token for ${id.owner}: ${IDENTIFIER_KIND} owner=${id.owner}, renewer=${id.renewer}, realUser=${id.realUser}, ` +
    `issueDate=${id.issueDate}, maxDate=${id.maxDate}, sequenceNumber=${id.sequenceNumber}, masterKeyId=${id.masterKeyId})`
  );
}

/** org.apache.hadoop.util.Time.formatTime: "yyyy-MM-dd HH:mm:ss,SSSZ", here always in UTC. */
function formatTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)},${iso.slice(20, 23)}+0000`;
}

class WritableOut {
  private readonly parts: number[] = [];
  byte(b: number): void {
    this.parts.push(b & 0xff);
  }
  /** WritableUtils.writeVLong: one byte for -112..127, else a length byte and big-endian magnitude. */
  vlong(value: number): void {
    let i = BigInt(value);
    if (i >= -112n && i <= 127n) {
      this.byte(Number(i));
      return;
    }
    let len = -112;
    if (i < 0n) {
      i = ~i;
      len = -120;
    }
    for (let tmp = i; tmp !== 0n; tmp >>= 8n) len--;
    this.byte(len);
    const n = len < -120 ? -(len + 120) : -(len + 112);
    for (let idx = n; idx !== 0; idx--) this.byte(Number((i >> BigInt((idx - 1) * 8)) & 0xffn));
  }
  bytes(b: Buffer): void {
    this.vlong(b.length);
    for (const x of b) this.parts.push(x);
  }
  /** Text.write: a vint length, then UTF-8. */
  text(s: string): void {
    this.bytes(Buffer.from(s, 'utf8'));
  }
  done(): Buffer {
    return Buffer.from(this.parts);
  }
}

class WritableIn {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  byte(): number {
    const b = this.buf[this.pos++];
    if (b === undefined) throw new Error('EOF');
    return b > 127 ? b - 256 : b;
  }
  vlong(): number {
    const first = this.byte();
    if (first >= -112) return first;
    const negative = first < -120;
    const n = negative ? -(first + 120) : -(first + 112);
    let i = 0n;
    for (let k = 0; k < n; k++) i = (i << 8n) | BigInt(this.byte() & 0xff);
    return Number(negative ? ~i : i);
  }
  bytes(): Buffer {
    const len = this.vlong();
    if (len < 0 || this.pos + len > this.buf.length) throw new Error('EOF');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return Buffer.from(out);
  }
  text(): string {
    return this.bytes().toString('utf8');
  }
}
