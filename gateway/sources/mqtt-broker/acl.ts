// What an authenticated client may do: per-device ACLs with mosquitto's `%c` (client id) and `%u` (username)
// substitutions, matched with MQTT filter rules. Pure (no sockets), so it is tested on its own.
import { z } from 'zod';

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
