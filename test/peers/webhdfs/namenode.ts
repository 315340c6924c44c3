// The namenode's WebHDFS endpoint (NamenodeWebHdfsMethods): metadata operations answered here, data
// operations (CREATE, APPEND, OPEN) answered with a 307 to the datanode and never given the data.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { authenticateNamenode } from './auth.js';
import type { Identity } from './auth.js';
import type { Cluster } from './context.js';
import { count } from './context.js';
import { hadoop, HadoopError, sendAuthenticationRequired, sendHadoopError, toHadoopError } from './errors.js';
import { encodePath, NAMENODE_HEADERS, sendEmpty, sendJson, sendText, sleep, webhdfsPath } from './http.js';
import { contentSummary, fileStatus } from './inode.js';
import type { Caller } from './permission.js';
import { javaUrlEncode, Params } from './params.js';
import type { HttpMethod } from './params.js';

const METHODS: readonly string[] = ['GET', 'PUT', 'POST', 'DELETE'];
/** A namenode never reads a body; past this much ignored data the connection is cut. */
const IGNORED_BODY_LIMIT = 64 * 1024 * 1024;

export function namenodeHandler(cluster: Cluster) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Step-1 data is received and dropped, as Jetty does with a body no resource reads; counted so a test
    // can prove a client does not send its data twice.
    let ignored = 0;
    req.on('data', (chunk: Buffer) => {
      ignored += chunk.length;
      cluster.counters.namenodeIgnoredBodyBytes += chunk.length;
      if (ignored > IGNORED_BODY_LIMIT) req.socket.destroy();
    });
    const url = new URL(req.url ?? '/', 'http://namenode');
    count(cluster.counters.namenode, (url.searchParams.get('op') ?? '').toUpperCase());
    await sleep(cluster.faults.namenodeDelayMs, cluster.closing);
    const style = cluster.settings.style;
    try {
      const path = webhdfsPath(url.pathname);
      if (path === undefined) return sendText(res, 404, 'Not Found\n', NAMENODE_HEADERS);
      if (!METHODS.includes(req.method ?? '')) {
        return sendText(res, 405, 'Method Not Allowed\n', { ...NAMENODE_HEADERS, Allow: METHODS.join(',') });
      }
      const method = req.method as HttpMethod;
      const params = new Params(url.searchParams, true);
      const auth = authenticateNamenode(cluster, req, params);
      if ('challenge' in auth) return sendAuthenticationRequired(res, url.pathname, auth.challenge);
      const op = params.op(method);
      const request: NamenodeRequest = { cluster, res, params, path, identity: auth.identity };
      dispatch(request, op);
    } catch (err) {
      if (!(err instanceof HadoopError)) {
        if (!(err instanceof URIError)) cluster.report(err);
      }
      const error = err instanceof URIError ? hadoop.illegalArgument(err.message) : toHadoopError(err);
      sendHadoopError(res, error, style, NAMENODE_HEADERS);
    }
  };
}

interface NamenodeRequest {
  readonly cluster: Cluster;
  readonly res: ServerResponse;
  readonly params: Params;
  readonly path: string;
  readonly identity: Identity;
}

function caller(r: NamenodeRequest): Caller {
  return r.cluster.ns.caller(r.identity.user);
}

function ok(r: NamenodeRequest, body: unknown): void {
  sendJson(r.res, 200, body, NAMENODE_HEADERS);
}

function dispatch(r: NamenodeRequest, op: string): void {
  const { cluster, params, path } = r;
  const ns = cluster.ns;
  switch (op) {
    // ---- GET ----
    case 'OPEN': {
      // GetOpParam OPEN: chooseDatanode needs the file and checks the offset against its length.
      const offset = params.number('offset', { type: 'long', min: 0 }) ?? 0;
      const length = params.number('length', { type: 'long', min: 0 });
      const bufferSize = params.number('buffersize', { type: 'int', min: 1 });
      const node = ns.getFileInfo(caller(r), path);
      if (node === undefined) throw hadoop.fileNotFound(`File ${path} not found.`);
      const len = node.kind === 'FILE' ? node.length : 0;
      if (offset >= len && len > 0) {
        throw hadoop.io(`Offset=${offset} out of the range [0, ${len}); OPEN, path=${path}`);
      }
      return redirect(r, 'OPEN', { buffersize: bufferSize, length, offset });
    }
    case 'GETFILESTATUS': {
      const node = ns.getFileInfo(caller(r), path);
      if (node === undefined) throw hadoop.fileNotFound(`File does not exist: ${path}`);
      return ok(r, { FileStatus: fileStatus(node, '') });
    }
    case 'LISTSTATUS':
      return ok(r, { FileStatuses: { FileStatus: ns.listStatus(caller(r), path) } });
    case 'GETCONTENTSUMMARY':
      return ok(r, contentSummary(ns.contentSummaryOf(caller(r), path)));
    case 'GETHOMEDIRECTORY':
      return ok(r, { Path: `/user/${r.identity.user}` });
    case 'GETDELEGATIONTOKEN':
      return getDelegationToken(r);
    // ---- PUT ----
    case 'CREATE': {
      // The namenode checks nothing about the file here: existence, permissions and safe mode are the
      // datanode's problem at step 2, because only there is ClientProtocol.create called.
      const extra = {
        blocksize: params.number('blocksize', { type: 'long', min: 1 }),
        buffersize: params.number('buffersize', { type: 'int', min: 1 }),
        createparent: params.bool('createparent', true),
        overwrite: params.bool('overwrite', false),
        permission: params.permission(),
        replication: params.number('replication', { type: 'short', min: 1 }),
      };
      return redirect(r, 'CREATE', extra);
    }
    case 'MKDIRS':
      ns.mkdirs(caller(r), path, params.permission() ?? 0o755);
      return ok(r, { boolean: true });
    case 'RENAME': {
      // rename2 (renameoptions=OVERWRITE) has other semantics and exceptions; not emulated.
      if (params.has('renameoptions')) throw hadoop.notEmulated('RENAME&renameoptions');
      const destination = params.destination();
      if (destination === undefined) throw requiredParam('destination', op);
      return ok(r, { boolean: ns.rename(caller(r), path, destination) });
    }
    case 'SETPERMISSION':
      ns.setPermission(caller(r), path, params.permission() ?? 0o755);
      return sendEmpty(r.res, 200, NAMENODE_HEADERS);
    case 'SETOWNER': {
      const owner = params.string('owner');
      const group = params.string('group');
      if (owner === undefined && group === undefined)
        throw hadoop.illegalArgument('Both owner and group are empty.');
      ns.setOwner(caller(r), path, owner, group);
      return sendEmpty(r.res, 200, NAMENODE_HEADERS);
    }
    case 'RENEWDELEGATIONTOKEN': {
      const token = params.string('token');
      if (token === undefined) throw requiredParam('token', op);
      ns.checkSafeMode('Cannot renew delegation token');
      requireTokenOpAllowed(r, 'renewed');
      return ok(r, { long: cluster.tokens.renew(token, r.identity.user) });
    }
    case 'CANCELDELEGATIONTOKEN': {
      const token = params.string('token');
      if (token === undefined) throw requiredParam('token', op);
      ns.checkSafeMode('Cannot cancel delegation token');
      cluster.tokens.cancel(token, r.identity.user);
      return sendEmpty(r.res, 200, NAMENODE_HEADERS);
    }
    // ---- POST ----
    case 'APPEND': {
      const bufferSize = params.number('buffersize', { type: 'int', min: 1 });
      if (ns.getFileInfo(caller(r), path) === undefined) throw hadoop.fileNotFound(`File ${path} not found.`);
      return redirect(r, 'APPEND', { buffersize: bufferSize });
    }
    // ---- DELETE ----
    case 'DELETE':
      return ok(r, { boolean: ns.delete(caller(r), path, params.bool('recursive', false)) });
    case 'NULL':
      // No op at all: every switch in NamenodeWebHdfsMethods ends in this.
      throw hadoop.unsupported('op=NULL is not supported');
    default:
      throw hadoop.notEmulated(op);
  }
}

/** validateOpParams. */
function requiredParam(name: string, op: string): HadoopError {
  return hadoop.illegalArgument(`Required param ${name} for op: ${op} is null or empty`);
}

function getDelegationToken(r: NamenodeRequest): void {
  const { cluster, params } = r;
  if (params.string('delegation') !== undefined)
    throw hadoop.illegalArgument('delegation parameter is not null.');
  cluster.ns.checkSafeMode('Cannot issue delegation token');
  requireTokenOpAllowed(r, 'issued');
  // With security off the secret manager only runs if dfs.namenode.delegation.token.always-use is set;
  // otherwise createCredentials returns null and the namenode answers a null Token.
  if (!cluster.settings.secure && !cluster.settings.alwaysUseDelegationTokens) return ok(r, { Token: null });
  const renewer = params.string('renewer') ?? r.identity.user;
  return ok(r, { Token: { urlString: cluster.tokens.issue(r.identity.user, renewer) } });
}

/** FSNamesystem.isAllowedDelegationTokenOp: with security on, not over a connection a token authenticated. */
function requireTokenOpAllowed(r: NamenodeRequest, verb: 'issued' | 'renewed'): void {
  if (r.cluster.settings.secure && r.identity.method === 'TOKEN') {
    throw hadoop.io(`Delegation Token can be ${verb} only with kerberos or web authentication`);
  }
}

/**
 * NamenodeWebHdfsMethods.redirectURI: op, then the caller (user.name and doas with security off, the
 * delegation token with it on, a fresh token for a Kerberos caller), then namenoderpcaddress, then the op's
 * parameters sorted by name, null ones left out.
 */
function redirect(r: NamenodeRequest, op: string, extra: Record<string, number | boolean | undefined>): void {
  const { cluster, params, identity } = r;
  let query = `op=${op}`;
  if (!cluster.settings.secure) {
    for (const name of ['doas', 'user.name']) {
      const value = params.string(name);
      if (value !== undefined) query += `&${name}=${javaUrlEncode(value)}`;
    }
  } else {
    query += `&delegation=${identity.delegation ?? cluster.tokens.issue(identity.user, identity.user)}`;
  }
  query += `&namenoderpcaddress=${cluster.settings.rpcAddress}`;
  for (const name of Object.keys(extra).sort()) {
    const value = extra[name];
    if (value === undefined) continue;
    query += `&${name}=${name === 'permission' && typeof value === 'number' ? value.toString(8) : String(value)}`;
  }
  const location = `http://${cluster.settings.datanodeHost}:${cluster.datanodePort()}/webhdfs/v1${encodePath(r.path)}?${query}`;
  if (params.bool('noredirect', false)) return ok(r, { Location: location });
  r.res.writeHead(307, {
    ...NAMENODE_HEADERS,
    Location: location,
    'Content-Type': 'application/octet-stream',
    'Content-Length': '0',
  });
  r.res.end();
}
