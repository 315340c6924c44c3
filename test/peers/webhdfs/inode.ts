// The in-memory namespace's nodes and their WebHDFS JSON forms (JsonUtil.toJsonMap(HdfsFileStatus) and
// toJsonString(ContentSummary)), kept apart from the operations so both sides read alike.

interface Base {
  /** INodeId: the root is 16385 (INodeId.ROOT_INODE_ID), later nodes count up from there. */
  readonly id: number;
  name: string;
  parent: Dir | undefined;
  owner: string;
  group: string;
  /** Mode bits including the sticky bit (0o1000). */
  permission: number;
  mtime: number;
  atime: number;
}

export interface Dir extends Base {
  readonly kind: 'DIRECTORY';
  readonly children: Map<string, INode>;
  /** Namespace quota (files and directories, the directory itself included); -1 when unset. */
  nsQuota: number;
  /** Storage space quota in bytes, replication included; -1 when unset. */
  dsQuota: number;
}

export interface Lease {
  /** The DFSClient name of the writer (the datanode's client on the user's behalf). */
  readonly holder: string;
  readonly machine: string;
  /**
   * undefined while the writer renews it; once the writer is gone, the time its soft limit expires and
   * another client may recover it (LeaseManager's 60 s soft limit).
   */
  softLimitAt: number | undefined;
}

export interface FileNode extends Base {
  readonly kind: 'FILE';
  chunks: Buffer[];
  length: number;
  replication: number;
  blockSize: number;
  lease: Lease | undefined;
  /**
   * End offset of the block under construction. HDFS charges a whole block (blockSize x replication) to the
   * space quota from allocation until the file is closed, which is why a small write can exceed a quota.
   */
  ucBlockEnd: number | undefined;
}

export type INode = Dir | FileNode;

/** INodesInPath: inodes[0] is the root, inodes[i] the node named names[i - 1]; missing nodes are undefined. */
export interface ResolvedPath {
  readonly path: string;
  readonly names: readonly string[];
  readonly inodes: readonly (INode | undefined)[];
}

export function last(iip: ResolvedPath): INode | undefined {
  return iip.inodes[iip.inodes.length - 1];
}

/** The path of inodes[0..i], as Hadoop prints it in messages. */
export function prefixPath(iip: ResolvedPath, i: number): string {
  return i === 0 ? '/' : `/${iip.names.slice(0, i).join('/')}`;
}

export function pathOf(node: INode): string {
  const names: string[] = [];
  for (let n: INode | undefined = node; n?.parent !== undefined; n = n.parent) names.unshift(n.name);
  return `/${names.join('/')}`;
}

export function fileContent(file: FileNode): Buffer {
  if (file.chunks.length > 1) file.chunks = [Buffer.concat(file.chunks)];
  return file.chunks[0] ?? Buffer.alloc(0);
}

const ACTIONS = ['---', '--x', '-w-', '-wx', 'r--', 'r-x', 'rw-', 'rwx'];

/** FsPermission.toString(): "rwxr-xr-x", the sticky bit shown as t/T in the other-execute slot. */
export function permissionString(mode: number): string {
  const s = [(mode >> 6) & 7, (mode >> 3) & 7, mode & 7].map((bits) => ACTIONS[bits] ?? '---').join('');
  if ((mode & 0o1000) === 0) return s;
  return s.slice(0, 8) + ((mode & 1) === 1 ? 't' : 'T');
}

/** FsAction enum names, indexed by rwx bits, as AccessControlException messages print them. */
export const FS_ACTION = [
  'NONE',
  'EXECUTE',
  'WRITE',
  'WRITE_EXECUTE',
  'READ',
  'READ_EXECUTE',
  'READ_WRITE',
  'ALL',
];

export interface FileStatusJson {
  accessTime: number;
  blockSize: number;
  childrenNum: number;
  fileId: number;
  group: string;
  length: number;
  modificationTime: number;
  owner: string;
  pathSuffix: string;
  permission: string;
  replication: number;
  storagePolicy: number;
  type: 'FILE' | 'DIRECTORY';
}

/** JsonUtil.toJsonMap(HdfsFileStatus): a TreeMap, so keys are sorted; permission is "%o" of toShort(). */
export function fileStatus(node: INode, pathSuffix: string): FileStatusJson {
  const isFile = node.kind === 'FILE';
  return {
    accessTime: node.atime,
    blockSize: isFile ? node.blockSize : 0,
    childrenNum: isFile ? 0 : node.children.size,
    fileId: node.id,
    group: node.group,
    length: isFile ? node.length : 0,
    modificationTime: node.mtime,
    owner: node.owner,
    pathSuffix,
    permission: node.permission.toString(8),
    replication: isFile ? node.replication : 0,
    // BLOCK_STORAGE_POLICY_ID_UNSPECIFIED: nothing set on the node.
    storagePolicy: 0,
    type: node.kind,
  };
}

export interface Usage {
  /** Files and directories in the subtree, the root of it included. */
  namespace: number;
  /** Bytes x replication, counting a block under construction as a whole block. */
  space: number;
  length: number;
  files: number;
  directories: number;
}

export function usageOf(node: INode): Usage {
  if (node.kind === 'FILE') {
    const charged = Math.max(node.length, node.ucBlockEnd ?? 0);
    return { namespace: 1, space: charged * node.replication, length: node.length, files: 1, directories: 0 };
  }
  const u: Usage = { namespace: 1, space: 0, length: 0, files: 0, directories: 1 };
  for (const child of node.children.values()) {
    const c = usageOf(child);
    u.namespace += c.namespace;
    u.space += c.space;
    u.length += c.length;
    u.files += c.files;
    u.directories += c.directories;
  }
  return u;
}

/** JsonUtil.toJsonString(ContentSummary), keys sorted; quotas are -1 when unset. */
export function contentSummary(node: INode): Record<string, unknown> {
  const u = usageOf(node);
  return {
    ContentSummary: {
      directoryCount: u.directories,
      ecPolicy: 'Replicated',
      fileCount: u.files,
      length: u.length,
      quota: node.kind === 'DIRECTORY' ? node.nsQuota : -1,
      spaceConsumed: u.space,
      spaceQuota: node.kind === 'DIRECTORY' ? node.dsQuota : -1,
      typeQuota: {},
    },
  };
}
