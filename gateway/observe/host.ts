// Which Host header values the HTTP endpoints answer. A browser on the gateway's host (or LAN) can be sent to
// a page whose DNS name is then rebound to the gateway's address: the page's requests reach the gateway,
// same-origin for the browser, with the attacker's name in Host. Answering only names of this gateway
// closes that, as Vite and webpack-dev-server do with their allowed hosts.
import { isIP } from 'node:net';

export interface HostHeader {
  /** Lower case; an IPv6 address without brackets. */
  readonly name: string;
  readonly port: number | undefined;
}

/** A DNS name, an IPv4 address or a bracketed IPv6 address, then an optional port (RFC 9110 7.2). */
const HOST = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?))(?::(\d{1,5}))?$/;

export function parseHostHeader(value: string): HostHeader | undefined {
  const m = HOST.exec(value);
  if (!m) return undefined;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && port > 65_535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { name: m[1].toLowerCase(), port } : undefined;
  return { name: (m[2] ?? '').toLowerCase(), port };
}

export interface HostPolicy {
  /** observe.http.listen: when it is a name, that name is this gateway's too. */
  readonly listen: string;
  /** observe.http.allowed_hosts. */
  readonly allowed: readonly string[];
}

/**
 * Does `host` (the request's Host header) name this gateway? Answered: an IP address literal and
 * `localhost` (any port), the listen address when it is a name, and `allowed_hosts` (any port unless the
 * entry names one). Only a DNS name can be rebound: a browser sends an IP literal only to that address,
 * and resolves `localhost` to loopback itself. The literal is not compared with the socket's address, nor
 * the port with the bound one: behind NAT or a published container port (deploy/compose.yaml's
 * `127.0.0.1:9464:9464` reaches the container's own address) neither matches. No Host at all is HTTP/1.0
 * (Node answers HTTP/1.1 without one with 400): no browser sends that, so it is answered.
 */
export function hostAllowed(host: string | undefined, policy: HostPolicy): boolean {
  if (host === undefined) return true;
  const h = parseHostHeader(host);
  if (h === undefined) return false;
  if (isIP(h.name) !== 0 || h.name === 'localhost') return true;
  if (isIP(policy.listen) === 0 && h.name === policy.listen.toLowerCase()) return true;
  for (const entry of policy.allowed) {
    if (entry === '*') return true;
    const a = parseHostHeader(entry);
    if (a !== undefined && a.name === h.name && (a.port === undefined || a.port === (h.port ?? 80)))
      return true;
  }
  return false;
}
