// The datanode's WebHDFS endpoint (datanode/web/webhdfs/WebHdfsHandler + HdfsWriter): step 2 of CREATE and
// APPEND, and OPEN. It acts as a DFSClient of the namenode for the user, so namespace errors surface here,
// and every answer closes the connection as the Netty handler does.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { authenticateDatanode } from './auth.js';
import type { Identity } from './auth.js';
import type { Cluster } from './context.js';
import { count } from './context.js';
import { hadoop, HadoopError, sendHadoopError, toHadoopError } from './errors.js';
import {
  abandon,
  appendFile,
  completeFile,
  isStillOpen,
  openForRead,
  startFile,
  writeData,
} from './files.js';
import type { OpenFile, Writer } from './files.js';
import { drain, encodePath, sendEmpty, sendText, sleep, webhdfsPath } from './http.js';
import { Params } from './params.js';

const CLOSE = { Connection: 'close' } as const;
/** The datanode's own address, which the namenode sees as the client machine. */
const DATANODE_IP = '127.0.0.1';

export function datanodeHandler(cluster: Cluster) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://datanode');
    count(cluster.counters.datanode, (url.searchParams.get('op') ?? '').toUpperCase());
    await sleep(cluster.faults.datanodeDelayMs, cluster.closing);
    try {
      const path = webhdfsPath(url.pathname);
      if (path === undefined) return sendText(res, 404, 'Not Found\n', CLOSE);
      const params = new Params(url.searchParams, false);
      const identity = authenticateDatanode(cluster, params);
      const op = params.string('op') ?? 'null';
      const route = `${req.method ?? ''} ${op.toUpperCase()}`;
      const request: DatanodeRequest = { cluster, req, res, params, path, identity };
      if (route === 'PUT CREATE') return await onCreate(request);
      if (route === 'POST APPEND') return await onAppend(request);
      if (route === 'GET OPEN') return onOpen(request);
      if (route === 'GET GETFILECHECKSUM') {
        throw hadoop.notEmulated('GETFILECHECKSUM');
      }
      throw hadoop.illegalArgument(`Invalid operation ${op}`);
    } catch (err) {
      if (!(err instanceof HadoopError) && !(err instanceof URIError)) cluster.report(err);
      const error = err instanceof URIError ? hadoop.illegalArgument(err.message) : toHadoopError(err);
      // Drained first so that a client still sending its body reads the error rather than a reset.
      await drain(req, cluster.settings.maxUploadBytes);
      if (!res.headersSent && !res.destroyed) sendHadoopError(res, error, cluster.settings.style, CLOSE);
    }
  };
}

interface DatanodeRequest {
  readonly cluster: Cluster;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Params;
  readonly path: string;
  readonly identity: Identity;
}

/**
 * newDfsClient(namenoderpcaddress): the datanode dials the namenode the redirect named. A namenode that is
 * down, or an address that is not this cluster's, is a refused connection; a token is checked on the RPC.
 */
function dialNamenode(r: DatanodeRequest): void {
  const { cluster, params, identity } = r;
  const address = params.string('namenoderpcaddress');
  if (address === undefined) throw hadoop.illegalArgument('java.net.UnknownHostException: null');
  if (address !== cluster.settings.rpcAddress || !cluster.namenodeIsUp()) {
    throw hadoop.connect(
      `Call From localhost/${DATANODE_IP} to ${address} failed on connection exception: ` +
        'java.net.ConnectException: Connection refused; For more details see:  http://wiki.apache.org/hadoop/ConnectionRefused',
    );
  }
  if (identity.delegation !== undefined) cluster.tokens.verify(identity.delegation);
}

function writer(cluster: Cluster): Writer {
  return { client: cluster.nextClientName(), machine: DATANODE_IP };
}

/** WebHdfsHandler.onCreate: the file is created before the body is read, then HdfsWriter streams into it. */
async function onCreate(r: DatanodeRequest): Promise<void> {
  const { cluster, params, path } = r;
  const config = cluster.ns.config;
  const request = {
    path,
    overwrite: params.bool('overwrite', false),
    // PermissionParam.getFileFsPermission: 644 when not given, no umask applied.
    permission: params.permission() ?? 0o644,
    replication: params.number('replication', { type: 'short', min: 1 }) ?? config.defaultReplication,
    blockSize: params.number('blocksize', { type: 'long', min: 1 }) ?? config.defaultBlockSize,
    createParent: params.bool('createparent', true),
  };
  params.number('buffersize', { type: 'int', min: 1 });
  dialNamenode(r);
  const open = startFile(cluster.ns, cluster.ns.caller(r.identity.user), request, writer(cluster));
  // new URI("hdfs", namenodeId, path, null, null): the hdfs:// URI of the file, not the webhdfs:// one.
  const location = `hdfs://${cluster.settings.rpcAddress}${encodePath(open.path)}`;
  await receive(r, open, () => sendEmpty(r.res, 201, { ...CLOSE, Location: location }));
}

/** WebHdfsHandler.onAppend. */
async function onAppend(r: DatanodeRequest): Promise<void> {
  const { cluster, params, path } = r;
  params.number('buffersize', { type: 'int', min: 1 });
  dialNamenode(r);
  const open = appendFile(cluster.ns, cluster.ns.caller(r.identity.user), path, writer(cluster));
  await receive(r, open, () => sendEmpty(r.res, 200, CLOSE));
}

/** WebHdfsHandler.onOpen: seek to offset, send at most length bytes. */
function onOpen(r: DatanodeRequest): void {
  const { cluster, params, path } = r;
  const offset = params.number('offset', { type: 'long', min: 0 }) ?? 0;
  const length = params.number('length', { type: 'long', min: 0 });
  params.number('buffersize', { type: 'int', min: 1 });
  dialNamenode(r);
  const data = openForRead(cluster.ns, cluster.ns.caller(r.identity.user), path);
  if (offset > data.length) throw hadoop.eof('Cannot seek after EOF');
  const end = length === undefined ? data.length : Math.min(data.length, offset + length);
  const body = data.subarray(offset, end);
  r.res.writeHead(200, {
    'Access-Control-Allow-Methods': 'GET',
    'Access-Control-Allow-Origin': '*',
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(body.length),
    ...CLOSE,
  });
  r.res.end(body);
}

type Outcome = 'end' | 'gone' | 'dropped' | 'too-large';

/**
 * HdfsWriter: each chunk goes into the open file as it arrives. At the end the stream is closed and the
 * file completed. If the connection goes away first (client abort or the dropUpload fault) the datanode's
 * channelInactive still closes the stream: what arrived is committed. A write that failed (quota) leaves
 * the file under construction, its lease held until the soft limit.
 */
async function receive(r: DatanodeRequest, open: OpenFile, succeed: () => void): Promise<void> {
  const { cluster, req, res } = r;
  const ns = cluster.ns;
  let failure: HadoopError | undefined;
  let received = 0;
  const outcome = await new Promise<Outcome>((resolve) => {
    let settled = false;
    const settle = (o: Outcome): void => {
      settled = true;
      resolve(o);
    };
    const take = (chunk: Buffer): void => {
      received += chunk.length;
      cluster.counters.datanodeBytesReceived += chunk.length;
      if (failure !== undefined) return;
      try {
        writeData(ns, open, chunk);
      } catch (err) {
        if (!(err instanceof HadoopError)) cluster.report(err);
        failure = toHadoopError(err);
      }
    };
    if (cluster.faults.drop?.afterBytes === 0) {
      consumeDrop(cluster);
      settle('dropped');
      return;
    }
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      const armed = cluster.faults.drop;
      if (armed !== undefined && received + chunk.length >= armed.afterBytes) {
        take(chunk.subarray(0, armed.afterBytes - received));
        consumeDrop(cluster);
        settle('dropped');
        return;
      }
      take(chunk);
      if (received > cluster.settings.maxUploadBytes) settle('too-large');
    });
    req.on('end', () => settle('end'));
    req.on('close', () => settle('gone'));
  });
  if (outcome === 'end') {
    if (failure !== undefined) {
      abandon(ns, open);
      return sendHadoopError(res, failure, cluster.settings.style, CLOSE);
    }
    try {
      completeFile(ns, open);
    } catch (err) {
      // The file was deleted or overwritten under the writer: close() fails and that is the answer.
      if (!(err instanceof HadoopError)) cluster.report(err);
      return sendHadoopError(res, toHadoopError(err), cluster.settings.style, CLOSE);
    }
    return succeed();
  }
  // No answer is coming for this request; the stream is closed as HdfsWriter.channelInactive does, and a
  // file deleted under the writer simply loses the data, as in HDFS.
  if (failure !== undefined) abandon(ns, open);
  else if (isStillOpen(ns, open)) completeFile(ns, open);
  if (outcome === 'too-large') {
    // Not HDFS: a guard so a runaway test cannot fill memory. Labelled as the emulator's.
    sendText(
      res,
      413,
      `webhdfs emulator: request body exceeds maxUploadBytes=${cluster.settings.maxUploadBytes}\n`,
      CLOSE,
    );
  }
  if (outcome === 'dropped') cluster.counters.droppedUploads += 1;
  req.socket.destroy();
}

function consumeDrop(cluster: Cluster): void {
  const drop = cluster.faults.drop;
  if (drop === undefined) return;
  drop.remaining -= 1;
  if (drop.remaining <= 0) cluster.faults.drop = undefined;
}
