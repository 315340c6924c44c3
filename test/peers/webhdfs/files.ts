// File writes and reads as the datanode's DFSClient drives them against the namenode: startFile / appendFile
// (FSDirWriteFileOp, FSDirAppendOp) take a lease, each new block is charged to the space quota in full when it
// is allocated, and close completes the file. A writer that dies keeps its lease until the soft limit.
import { hadoop } from './errors.js';
import { fileContent, last, pathOf } from './inode.js';
import type { FileNode, INode } from './inode.js';
import type { Namespace } from './namespace.js';
import { R, W } from './permission.js';
import type { Caller } from './permission.js';

/** dfs.bytes-per-checksum: a block size must be a multiple of it. */
const BYTES_PER_CHECKSUM = 512;
/** dfs.namenode.accesstime.precision: reads move atime at most once an hour. */
const ACCESS_TIME_PRECISION_MS = 3_600_000;

export interface Writer {
  /** DFSClient name, e.g. DFSClient_NONMAPREDUCE_12_1. */
  readonly client: string;
  /** The client machine the namenode sees: the datanode, not the HTTP client. */
  readonly machine: string;
}

/** A file a datanode has open for a writer: what DFSOutputStream holds. */
export interface OpenFile {
  readonly file: FileNode;
  /** The path as the client named it, for messages after the file has been moved or deleted. */
  readonly path: string;
  readonly writer: Writer;
}

export interface CreateRequest {
  path: string;
  overwrite: boolean;
  createParent: boolean;
  permission: number;
  replication: number;
  blockSize: number;
}

/**
 * ClientProtocol.create as FSNamesystem.startFileInt runs it, then DFSOutputStream's constructor: the file
 * exists (empty, under construction) before a byte of data has been read.
 */
export function startFile(ns: Namespace, caller: Caller, req: CreateRequest, writer: Writer): OpenFile {
  const path = req.path;
  const iip = ns.resolve(path, `Invalid path name ${path}`);
  if (req.replication > ns.config.maxReplication) {
    throw hadoop.io(
      `Requested replication factor of ${req.replication} exceeds maximum of ${ns.config.maxReplication} for ${iip.path} from ${writer.machine}`,
    );
  }
  if (req.blockSize < ns.config.minBlockSize) {
    throw hadoop.io(
      `Specified block size is less than configured minimum value (dfs.namenode.fs-limits.min-block-size): ${req.blockSize} < ${ns.config.minBlockSize}`,
    );
  }
  ns.checkSafeMode(`Cannot create file${iip.path}`);
  // FSDirWriteFileOp.resolvePathForStartFile.
  ns.check(caller, iip, { ancestor: W });
  const existing = last(iip);
  if (existing?.kind === 'DIRECTORY')
    throw hadoop.fileAlreadyExists(`${iip.path} already exists as a directory`);
  if (existing !== undefined && req.overwrite) ns.check(caller, iip, { self: W });
  const parent = iip.inodes[iip.inodes.length - 2];
  if (existing === undefined && !req.createParent) {
    if (parent === undefined)
      throw hadoop.fileNotFound(`Parent directory doesn't exist: ${parentPath(iip.path)}`);
    if (parent.kind !== 'DIRECTORY')
      throw hadoop.parentNotDirectory(`Parent path is not a directory: ${parentPath(iip.path)}`);
  }
  // FSDirWriteFileOp.startFile.
  if (existing !== undefined) {
    if (req.overwrite) {
      // Overwrite deletes the old file even if another client is still writing it.
      existing.parent?.children.delete(existing.name);
      existing.parent = undefined;
    } else {
      recoverLease(ns, existing, 'CREATE_FILE', writer);
      throw hadoop.fileAlreadyExists(`${iip.path} for client ${writer.machine} already exists`);
    }
  }
  // Missing ancestors take their parent's mode plus u+wx (createAncestorDirectories inherits).
  const nearest = iip.inodes.slice(0, -1).findLast((n) => n !== undefined);
  const dir = ns.createMissing(caller, iip, iip.names.length - 1, (nearest?.permission ?? 0o755) | 0o300);
  const now = ns.now;
  const file: FileNode = {
    kind: 'FILE',
    id: ns.nextInodeId(),
    name: iip.names.at(-1) ?? '',
    parent: undefined,
    owner: caller.user,
    group: dir.group,
    permission: req.permission,
    mtime: now,
    atime: now,
    chunks: [],
    length: 0,
    replication: req.replication,
    blockSize: req.blockSize,
    lease: { holder: writer.client, machine: writer.machine, softLimitAt: undefined },
    ucBlockEnd: undefined,
  };
  ns.addChild(dir, file);
  const open = { file, path: iip.path, writer };
  if (req.blockSize % BYTES_PER_CHECKSUM !== 0) {
    // DFSOutputStream refuses after the namenode created the file; the datanode never closes it.
    abandon(ns, open);
    throw hadoop.illegalArgument(
      `Invalid values: dfs.bytes-per-checksum (=${BYTES_PER_CHECKSUM}) must divide block size (=${req.blockSize}).`,
    );
  }
  return open;
}

/** ClientProtocol.append (FSDirAppendOp.appendFile): the partial last block is re-opened and re-charged. */
export function appendFile(ns: Namespace, caller: Caller, path: string, writer: Writer): OpenFile {
  ns.checkSafeMode(`Cannot append to file${path}`);
  const iip = ns.resolve(path);
  const node = last(iip);
  if (node?.kind === 'DIRECTORY') {
    throw hadoop.fileAlreadyExists(`Cannot append to directory ${iip.path}; already exists as a directory.`);
  }
  ns.check(caller, iip, { self: W });
  if (node === undefined) {
    throw hadoop.fileNotFound(
      `Failed to append to non-existent file ${iip.path} for client ${writer.machine}`,
    );
  }
  recoverLease(ns, node, 'APPEND_FILE', writer);
  const partial = node.length % node.blockSize;
  if (partial !== 0 && node.parent !== undefined) {
    const reopened = node.length - partial + node.blockSize;
    ns.verifyQuota(node.parent, 0, (reopened - node.length) * node.replication);
    node.ucBlockEnd = reopened;
  }
  node.lease = { holder: writer.client, machine: writer.machine, softLimitAt: undefined };
  return { file: node, path: iip.path, writer };
}

/** Bytes arriving at the datanode; a block boundary is an addBlock call, checked against the quota. */
export function writeData(ns: Namespace, open: OpenFile, data: Buffer): void {
  const file = open.file;
  let offset = 0;
  while (offset < data.length) {
    if (file.ucBlockEnd === undefined || file.length >= file.ucBlockEnd) {
      requireOpen(ns, open);
      if (file.parent !== undefined) ns.verifyQuota(file.parent, 0, file.blockSize * file.replication);
      file.ucBlockEnd = file.length + file.blockSize;
    }
    const take = Math.min(data.length - offset, file.ucBlockEnd - file.length);
    file.chunks.push(Buffer.from(data.subarray(offset, offset + take)));
    file.length += take;
    offset += take;
  }
}

/** ClientProtocol.complete: the last block is charged at its real size again and the lease is gone. */
export function completeFile(ns: Namespace, open: OpenFile): void {
  requireOpen(ns, open);
  const file = open.file;
  file.ucBlockEnd = undefined;
  file.lease = undefined;
  file.mtime = ns.now;
}

/** The writer failed without closing: the file stays under construction until the lease soft limit. */
export function abandon(ns: Namespace, open: OpenFile): void {
  const lease = open.file.lease;
  if (lease?.holder === open.writer.client) lease.softLimitAt = ns.now + ns.config.leaseSoftLimitMs;
}

/** ClientProtocol.getBlockLocations as DFSClient.open calls it: a file, readable by the caller. */
export function openForRead(ns: Namespace, caller: Caller, path: string): Buffer {
  const iip = ns.resolve(path);
  ns.check(caller, iip, {});
  const node = last(iip);
  if (node === undefined) throw hadoop.fileNotFound(`File does not exist: ${iip.path}`);
  if (node.kind !== 'FILE') throw hadoop.fileNotFound(`Path is not a file: ${iip.path}`);
  ns.check(caller, iip, { self: R });
  if (ns.now > node.atime + ACCESS_TIME_PRECISION_MS) node.atime = ns.now;
  return fileContent(node);
}

/**
 * FSNamesystem.recoverLeaseInternal: a file under construction refuses a second writer while its holder is
 * alive; past the soft limit the namenode recovers the lease. The emulator's leftover leases only ever guard
 * blocks that never received data, which HDFS closes on the spot, so recovery succeeds at once.
 */
function recoverLease(
  ns: Namespace,
  file: FileNode,
  op: 'CREATE_FILE' | 'APPEND_FILE',
  writer: Writer,
): void {
  const lease = file.lease;
  if (lease === undefined) return;
  if (lease.softLimitAt !== undefined && ns.now >= lease.softLimitAt) {
    file.lease = undefined;
    file.ucBlockEnd = undefined;
    return;
  }
  throw hadoop.alreadyBeingCreated(
    `Failed to ${op} ${pathOf(file)} for ${writer.client} on ${writer.machine} because this file lease is currently owned by ${lease.holder} on ${lease.machine}`,
  );
}

/** Whether the writer still holds the file: not deleted, not overwritten, lease not recovered. */
export function isStillOpen(ns: Namespace, open: OpenFile): boolean {
  let top: INode = open.file;
  while (top.parent !== undefined) top = top.parent;
  return top === ns.root && open.file.lease?.holder === open.writer.client;
}

/** FSNamesystem.checkLease: a deleted or overwritten file loses its writer at the next namenode call. */
function requireOpen(ns: Namespace, open: OpenFile): void {
  if (isStillOpen(ns, open)) return;
  throw hadoop.fileNotFound(
    `File does not exist: ${open.path} (inode ${open.file.id}) Holder ${open.writer.client} does not have any open files.`,
  );
}

function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}
