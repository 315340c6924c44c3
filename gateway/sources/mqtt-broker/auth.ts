// Who may connect: the CONNECT decision (password, client certificate or anonymous listener, client id
// binding, Last Will topic), over scrypt password hashes (node:crypto, never plain text).
import type { AuthenticateError, Client, ConnectPacket } from 'aedes';
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import { z } from 'zod';
import { readConfigText } from '../../config/files.js';
import { SluiceError } from '../../errors.js';
import type { Acl, Identity } from './acl.js';
import type { ListenerInfo } from './listeners.js';

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

/** A hash of a password nobody has, checked when the username is unknown so that timing does not tell. */
const DUMMY_HASH =
  '$scrypt$ln=14,r=8,p=1$c2x1aWNlLWR1bW15LXNhbHQ=$ZHVtbXlkdW1teWR1bW15ZHVtbXlkdW1teWR1bW15ZHU=';

/** The broker config this decision reads. */
export interface AuthConfig {
  readonly users: Readonly<Record<string, string>>;
  readonly password_file?: string | undefined;
  readonly client_id_binding: ClientIdBinding;
}

/** What the broker does with a decision: count and log a refusal, log an admission. */
export interface AuthEvents {
  denied(reason: string, clientId: string | undefined, fields: Record<string, unknown>): void;
  authenticated(who: Identity, listener: ListenerInfo): void;
}

function refusal(returnCode: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

/**
 * Decides every CONNECT and remembers who each admitted client is. aedes calls `preConnect` before
 * `authenticate` for the same client; what CONNECT said that authenticate cannot see (the Will, whether the
 * id was empty) is noted there.
 */
export class Authenticator {
  private users = new Map<string, string>();
  private longestUsername = 0;
  private readonly willTopic = new WeakMap<Client, string>();
  /** Clients whose CONNECT had an empty client id that MQTT 3.1/3.1.1 does not allow (see preConnect). */
  private readonly emptyIdRefused = new WeakSet<Client>();
  private readonly identity = new WeakMap<Client, Identity>();

  constructor(
    private readonly config: AuthConfig,
    private readonly acl: Acl,
    private readonly events: AuthEvents,
  ) {}

  /** Known users; read at start (`users`, then the password file, whose entries win). */
  get userCount(): number {
    return this.users.size;
  }

  loadUsers(): void {
    this.users = new Map(Object.entries(this.config.users));
    if (this.config.password_file !== undefined) {
      for (const [user, hash] of readPasswordFile(this.config.password_file)) this.users.set(user, hash);
    }
    for (const u of this.users.keys()) this.longestUsername = Math.max(this.longestUsername, u.length);
  }

  /** Who an admitted client is; undefined before (or without) a successful authenticate. */
  identityOf(client: Client): Identity | undefined {
    return this.identity.get(client);
  }

  preConnect(client: Client, packet: ConnectPacket): void {
    if (packet.will) this.willTopic.set(client, packet.will.topic);
    // aedes assigns an id to every empty one. MQTT 3.1 wants 1 to 23 characters; 3.1.1 allows an empty
    // id only with clean session 1: "If the Client supplies a zero-byte ClientId with CleanSession set to
    // 0, the Server MUST respond to the CONNECT Packet with a CONNACK return code 0x02 (Identifier
    // rejected)" [MQTT-3.1.3-8]. Refused in `authenticate`, the first hook that can answer with a CONNACK
    // code, before aedes registers the client. MQTT 5 allows it with either Clean Start [MQTT-3.1.3-6]
    // (aedes 1.2 refuses MQTT 5 before this with CONNACK 1, unacceptable protocol version).
    const v = packet.protocolVersion;
    if (packet.clientId === '' && (v === 3 || (v === 4 && packet.clean === false)))
      this.emptyIdRefused.add(client);
  }

  /** Admits the client or throws the CONNACK refusal (an AuthenticateError with its return code). */
  async authenticate(
    client: Client,
    listener: ListenerInfo | undefined,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<void> {
    if (!listener) throw refusal(3, 'connection from an unknown listener');
    const denied = this.events.denied.bind(this.events);
    if (this.emptyIdRefused.has(client)) {
      denied('empty_client_id', undefined, { username, listener: listener.label });
      throw refusal(2, 'identifier rejected: empty client id (MQTT 3.1.1 allows it only with clean session)');
    }
    const cn = certificateCn(client);
    let who: Identity;
    if (username !== undefined) {
      const hash = this.users.get(username);
      const ok = await verifyPassword(password ?? Buffer.alloc(0), hash ?? DUMMY_HASH);
      if (!ok || hash === undefined) {
        denied('bad_credentials', client.id, { username, listener: listener.label });
        throw refusal(4, 'bad user name or password');
      }
      const binding = this.config.client_id_binding;
      if (!clientIdAllowed(binding, username, client.id, this.users, this.longestUsername)) {
        denied('client_id_not_bound', client.id, { username, binding, listener: listener.label });
        throw refusal(2, `identifier rejected: client id is not bound to user ${username} (${binding})`);
      }
      who = { clientId: client.id, username };
    } else if (cn !== undefined) {
      // A client certificate authenticates the client whose id is its CN, and no other.
      if (cn !== client.id) {
        denied('certificate_cn_mismatch', client.id, { cn, listener: listener.label });
        throw refusal(5, 'certificate CN does not match the client id');
      }
      who = { clientId: client.id, username: cn };
    } else if (listener.config.allow_anonymous) {
      who = { clientId: client.id, username: undefined };
    } else {
      denied('anonymous', client.id, { listener: listener.label });
      throw refusal(5, 'not authorized');
    }
    // The Last Will is a publish like any other: refused at CONNECT (as Mosquitto does), not dropped later.
    const will = this.willTopic.get(client);
    if (will !== undefined && !this.acl.canPublish(who, will)) {
      denied('will_not_authorized', client.id, { topic: will });
      throw refusal(5, 'not authorized to publish the Last Will topic');
    }
    this.identity.set(client, who);
    this.events.authenticated(who, listener);
  }
}

/** The CN of a verified client certificate, or undefined (no TLS, no certificate, or not signed by our CA). */
function certificateCn(client: Client): string | undefined {
  // TLS: the connection is the TLS socket. wss: it is a WebSocket stream over the upgraded request's socket.
  const conn = client.conn instanceof TLSSocket ? client.conn : client.req?.socket;
  if (!(conn instanceof TLSSocket) || !conn.authorized) return undefined;
  const cn = conn.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}
