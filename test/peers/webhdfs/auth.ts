// Who a request is. Namenode: hadoop-auth's AuthenticationFilter (pseudo or Kerberos, skipped when a
// delegation token is present, see hdfs.web.AuthFilter) then JspHelper.getUGI. Datanode: DataNodeUGIProvider,
// which trusts user.name or decodes the token without checking it; the namenode checks it on the RPC.
import type { IncomingMessage } from 'node:http';

import type { Cluster } from './context.js';
import { hadoop, HadoopError } from './errors.js';
import type { Params } from './params.js';
import { decodeToken } from './tokens.js';

/** hadoop.http.staticuser.user: who an anonymous request acts as. */
export const DEFAULT_WEB_USER = 'dr.who';

export interface Identity {
  readonly user: string;
  /** How the namenode authenticated it: delegation-token callers may not get or renew tokens. */
  readonly method: 'SIMPLE' | 'KERBEROS' | 'TOKEN';
  /** The token the request carried, passed on in redirects. */
  readonly delegation?: string;
}

export type NamenodeAuth = { identity: Identity } | { challenge: 'PseudoAuth' | 'Negotiate' };

export function authenticateNamenode(cluster: Cluster, req: IncomingMessage, params: Params): NamenodeAuth {
  const { secure, allowAnonymous } = cluster.settings;
  const delegation = params.string('delegation');
  const userName = params.string('user.name');
  if (secure) {
    if (delegation !== undefined) {
      // getTokenUGI, then checkUsername for user.name and doas: a token cannot be used as someone else.
      const owner = ugiFailure(() => cluster.tokens.verify(delegation).owner);
      for (const claimed of [userName, params.string('doas')]) {
        if (claimed !== undefined && claimed !== owner) {
          throw ugiFailureOf(hadoop.io(`Usernames not matched: name=${claimed} != expected=${owner}`));
        }
      }
      return { identity: { user: owner, method: 'TOKEN', delegation } };
    }
    // SPNEGO stand-in: "Authorization: Negotiate <ticket>" with a ticket the test configured.
    const header = req.headers.authorization ?? '';
    const ticket = header.startsWith('Negotiate ') ? header.slice('Negotiate '.length).trim() : undefined;
    const principal = ticket === undefined ? undefined : cluster.settings.kerberosTickets[ticket];
    if (principal === undefined) return { challenge: 'Negotiate' };
    return { identity: proxied(cluster, { user: principal, method: 'KERBEROS' }, params) };
  }
  // Security off: a delegation parameter only skips the filter; the token is not what names the user.
  if (delegation === undefined && userName === undefined && !allowAnonymous)
    return { challenge: 'PseudoAuth' };
  return { identity: proxied(cluster, { user: userName ?? DEFAULT_WEB_USER, method: 'SIMPLE' }, params) };
}

/** doas: allowed only for users configured as proxies (hadoop.proxyuser.*), else AuthorizationException. */
function proxied(cluster: Cluster, identity: Identity, params: Params): Identity {
  const doAs = params.string('doas');
  if (doAs === undefined || doAs === identity.user) return identity;
  const allowed = cluster.settings.proxyUsers[identity.user] ?? [];
  if (!allowed.includes('*') && !allowed.includes(doAs)) {
    throw ugiFailureOf(
      new HadoopError(
        'org.apache.hadoop.security.authorize.AuthorizationException',
        `User: ${identity.user} is not allowed to impersonate ${doAs}`,
        'io',
      ),
    );
  }
  return { ...identity, user: doAs };
}

/** UserProvider turns any failure to build the UGI into this SecurityException. */
function ugiFailureOf(cause: HadoopError): HadoopError {
  return hadoop.security(`Failed to obtain user group information: ${cause.toString()}`);
}

function ugiFailure<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof HadoopError) throw ugiFailureOf(err);
    throw err;
  }
}

export function authenticateDatanode(cluster: Cluster, params: Params): Identity {
  if (cluster.settings.secure) {
    const delegation = params.string('delegation');
    // ParameterParser.delegationToken() decodes a null string: the datanode answers NullPointerException.
    if (delegation === undefined) throw hadoop.nullPointer(null);
    return { user: decodeToken(delegation).id.owner, method: 'TOKEN', delegation };
  }
  const user = params.string('user.name') ?? DEFAULT_WEB_USER;
  return { user: params.string('doas') ?? user, method: 'SIMPLE' };
}
