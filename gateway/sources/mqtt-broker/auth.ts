// Who may connect and what they may do: scrypt password hashes (node:crypto, never plain text), and per-device
// ACLs with mosquitto's `%c` (client id) and `%u` (username) substitutions, matched with MQTT filter rules.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { z } from 'zod';
import { readConfigText } from '../../config/files.js';
import { SluiceError } from '../../errors.js';

/** `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64>$<key base64>`, in the PHC string style. */
const HASH =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
const KEY_BYTES = 32;
/**
 * Node's default scrypt cost (N = 2**14, r = 8, p = 1): ~45 ms and 16 MiB per check on a small CPU. Device
 * secrets should be long random strings, for which this is ample; `sluice passwd --cost` raises it, and
 * connect_rate_per_s bounds how much CPU a flood of wrong passwords can take.
 */
export const DEFAULT_COST = { ln: 14, r: 8, p: 1 } as const;

interface ParsedHash {
  readonly ln: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

function parseHash(encoded: string): ParsedHash | undefined {
  const m = HASH.exec(encoded);
  if (!m) return undefined;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || p < 1) return undefined;
  return { ln, r, p, salt: Buffer.from(m[4] ?? '', 'base64'), key: Buffer.from(m[5] ?? '', 'base64') };
}

export const passwordHash = z
  .string()
  .refine(
    (s) => parseHash(s) !== undefined,
    'an scrypt hash made by `sluice passwd` ($scrypt$ln=..,r=..,p=..$salt$key)',
  );

function derive(password: Buffer, salt: Buffer, cost: { ln: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = {
    N: 2 ** cost.ln,
    r: cost.r,
    p: cost.p,
    maxmem: 256 * 2 ** cost.ln * cost.r,
  };
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(
  password: string,
  cost: { ln: number; r: number; p: number } = DEFAULT_COST,
): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(Buffer.from(password, 'utf8'), salt, cost);
  return `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Constant-time comparison of the derived key; false for a malformed hash. */
export async function verifyPassword(password: Uint8Array, encoded: string): Promise<boolean> {
  const h = parseHash(encoded);
  if (!h) return false;
  const key = await derive(Buffer.from(password), h.salt, h);
  return key.length === h.key.length && timingSafeEqual(key, h.key);
}

/** Reads `username:hash` lines (`#` comments and blank lines allowed), as `sluice passwd -f` writes them. */
export function readPasswordFile(file: string): Map<string, string> {
  const text = readConfigText(file, 'password_file', 'create it with `sluice passwd -f FILE USERNAME`');
  const users = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const colon = t.indexOf(':');
    const user = t.slice(0, colon);
    const hash = t.slice(colon + 1);
    if (colon <= 0 || parseHash(hash) === undefined) {
      throw new SluiceError(
        'SLUICE_CONFIG_INVALID',
        `${file}:${i + 1}: expected username:$scrypt$... (the line is not shown: it may hold a secret)`,
        {
          hint: 'make entries with `sluice passwd -f FILE USERNAME`',
        },
      );
    }
    users.set(user, hash);
  });
  return users;
}

/** A topic filter; `{username}`-style placeholders are refused: they would match only that literal text. */
const aclFilter = z
  .string()
  .min(1)
  .refine((f) => !/\{(user(name)?|client_?id|device)\}/i.test(f), {
    message: 'ACL filters substitute %u (username) and %c (client id), not {username}/{clientid}/{device}',
  });

export const aclRuleSchema = z
  .strictObject({
    username: z
      .string()
      .min(1)
      .optional()
      .describe('The rule applies to this user only; omitted, to every client (like a mosquitto `pattern`).'),
    publish: z
      .array(aclFilter)
      .default([])
      .describe(
        'Topic filters the client may publish to (Last Will and `$SYS/` included); `%c` is the client id, `%u` the username.',
      ),
    subscribe: z
      .array(aclFilter)
      .default([])
      .describe('Topic filters the client may subscribe to (a subscription must lie within one).'),
  })
  .describe('Per-device permissions. A client may do what any rule that applies to it allows.');
export type AclRule = z.output<typeof aclRuleSchema>;

/**
 * Whether a client id belongs to the user that connects with it. Without a binding any authenticated device
 * may connect with another's id: it takes over that device's session and, under a `%c` ACL, publishes as
 * that device. mosquitto offers `use_username_as_clientid` (which silently replaces the id); this refuses a
 * mismatching CONNECT instead, so the device learns why and keeps one session per id.
 */
export const clientIdBindingSchema = z
  .enum(['none', 'username', 'username_prefix'])
  .default('none')
  .describe(
    'Bind client ids to usernames. `username`: the client id must equal the username (certificate clients: their CN, as always). `username_prefix`: it may also be `<username>-<anything>`, and an id belongs to the longest username it starts with, so user `dev` cannot take `dev-1` when user `dev-1` exists. A mismatch gets CONNACK 2 (identifier rejected) after the password check, counted as `client_id_not_bound`; clients without credentials cannot be bound, so no listener may allow_anonymous. `none`: any id (then use `%u`, not `%c`, in ACLs).',
  );
export type ClientIdBinding = z.output<typeof clientIdBindingSchema>;

/**
 * May `username` connect with `clientId` under `binding`? `users` are all known usernames: in
 * `username_prefix` mode an id is owned by the longest of them that it equals or starts with followed by `-`.
 */
export function clientIdAllowed(
  binding: ClientIdBinding,
  username: string,
  clientId: string,
  users: ReadonlyMap<string, unknown>,
  longestUsername: number,
): boolean {
  if (binding === 'none' || clientId === username) return true;
  if (binding === 'username' || users.has(clientId)) return false;
  // Longest prefix first; prefixes longer than any username cannot name one (and a long id with many `-`
  // would otherwise cost quadratic time).
  for (let i = clientId.lastIndexOf('-', longestUsername); i > 0; i = clientId.lastIndexOf('-', i - 1)) {
    const prefix = clientId.slice(0, i);
    if (users.has(prefix)) return prefix === username;
  }
  return false;
}

/** Who a connected client is, as far as the ACL is concerned. */
export interface Identity {
  readonly clientId: string;
  /** The MQTT username, or the client certificate's CN for certificate clients. */
  readonly username: string | undefined;
}

export class Acl {
  /** `rules` undefined: no ACL configured, everything allowed except what MQTT reserves (`$` topics). */
  constructor(private readonly rules: readonly AclRule[] | undefined) {}

  canPublish(who: Identity, topic: string): boolean {
    if (this.rules === undefined) return !topic.startsWith('$');
    return this.rules.some(
      (r) => applies(r, who) && r.publish.some((f) => matchesTopic(substitute(f, who), topic)),
    );
  }

  canSubscribe(who: Identity, filter: string): boolean {
    if (this.rules === undefined) return true;
    return this.rules.some(
      (r) => applies(r, who) && r.subscribe.some((f) => covers(substitute(f, who), filter)),
    );
  }
}

function applies(rule: AclRule, who: Identity): boolean {
  return rule.username === undefined || rule.username === who.username;
}

/**
 * The filter with `%c`/`%u` replaced, or undefined when it cannot apply: no username for `%u`, or an id that
 * would widen the filter (`+`, `#`, `/`), as mosquitto refuses such ids in patterns.
 */
function substitute(filter: string, who: Identity): string | undefined {
  if (!filter.includes('%')) return filter;
  const unsafe = (s: string): boolean => /[+#/]/.test(s) || s === '';
  if (filter.includes('%c') && unsafe(who.clientId)) return undefined;
  if (filter.includes('%u') && (who.username === undefined || unsafe(who.username))) return undefined;
  return filter.replaceAll('%c', who.clientId).replaceAll('%u', who.username ?? '');
}

/** Does filter `f` match the concrete topic `topic`? ([MQTT-4.7.1], with [MQTT-4.7.2-1] for `$` topics.) */
export function matchesTopic(f: string | undefined, topic: string): boolean {
  if (f === undefined) return false;
  const fl = f.split('/');
  const tl = topic.split('/');
  if (topic.startsWith('$') && (fl[0] === '+' || fl[0] === '#')) return false;
  for (let i = 0; i < fl.length; i++) {
    if (fl[i] === '#') return true;
    if (i >= tl.length) return false;
    if (fl[i] !== '+' && fl[i] !== tl[i]) return false;
  }
  return fl.length === tl.length;
}

/** Does ACL filter `acl` allow subscription filter `sub`, i.e. every topic `sub` matches is matched by `acl`? */
export function covers(acl: string | undefined, sub: string): boolean {
  if (acl === undefined) return false;
  const al = acl.split('/');
  const sl = sub.split('/');
  if (sub.startsWith('$') && (al[0] === '+' || al[0] === '#')) return false;
  for (let i = 0; i < al.length; i++) {
    if (al[i] === '#') return true;
    const s = sl[i];
    if (s === undefined) return false;
    if (s === '#') return false;
    if (al[i] === '+') continue;
    if (s === '+' || al[i] !== s) return false;
  }
  return al.length === sl.length;
}
