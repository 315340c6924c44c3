// The namenode's namespace in memory: path resolution, quotas, safe mode and the metadata operations
// (FSDirMkdirOp, FSDirRenameOp, FSDirDeleteOp, FSDirAttrOp, FSDirStatAndListingOp), with their checks in
// Hadoop's order so that a request failing two ways fails the way HDFS does.
import { hadoop, long2String } from './errors.js';
import { fileStatus, last, pathOf, usageOf } from './inode.js';
import type { Dir, FileStatusJson, INode, ResolvedPath } from './inode.js';
import { checkPermission, R, W, X } from './permission.js';
import type { Caller } from './permission.js';

export interface NamespaceConfig {
  /** The user the namenode runs as (dfs.cluster.administrators aside, the HDFS superuser). */
  superuser: string;
  /** dfs.permissions.superusergroup. */
  supergroup: string;
  /** The group mapping the namenode would resolve; unknown users belong to no group. */
  groups: Readonly<Record<string, readonly string[]>>;
  /** dfs.permissions.enabled. */
  permissionsEnabled: boolean;
  /** dfs.blocksize. */
  defaultBlockSize: number;
  /** dfs.replication. */
  defaultReplication: number;
  /** dfs.namenode.fs-limits.min-block-size. */
  minBlockSize: number;
  /** dfs.replication.max. */
  maxReplication: number;
  /** LeaseManager soft limit: how long a dead writer's lease blocks other writers. */
  leaseSoftLimitMs: number;
  now: () => number;
}

export interface SafeMode {
  /** Mutations still to refuse before safe mode lifts itself; Infinity until cleared. */
  remaining: number;
  /** Wrap in RetriableException, as an HA namenode does in startup safe mode. */
  retriable: boolean;
}

/** dfs.namenode.fs-limits.max-component-length. */
const MAX_COMPONENT_LENGTH = 255;

export class Namespace {
  readonly root: Dir;
  safeMode: SafeMode | undefined;
  private nextId = 16385;

  constructor(readonly config: NamespaceConfig) {
    this.root = this.newDir('', undefined, config.superuser, config.supergroup, 0o755);
  }

  get now(): number {
    return this.config.now();
  }

  caller(user: string): Caller {
    const groups = this.config.groups[user] ?? [];
    return {
      user,
      groups,
      superuser: user === this.config.superuser || groups.includes(this.config.supergroup),
    };
  }

  /**
   * INodesInPath for a path; `invalid` is the message for a name DFSUtil.isValidName rejects (each
   * operation words it its own way).
   */
  resolve(path: string, invalid = `Invalid path name Invalid file name: ${path}`): ResolvedPath {
    if (!isValidName(path)) throw hadoop.invalidPath(invalid);
    const names = path.split('/').filter((n) => n !== '');
    const inodes: (INode | undefined)[] = [this.root];
    let node: INode | undefined = this.root;
    for (const name of names) {
      node = node?.kind === 'DIRECTORY' ? node.children.get(name) : undefined;
      inodes.push(node);
    }
    return { path: names.length === 0 ? '/' : `/${names.join('/')}`, names, inodes };
  }

  /** FSNamesystem.checkNameNodeSafeMode, called by every namespace mutation before anything else. */
  checkSafeMode(action: string): void {
    const sm = this.safeMode;
    if (sm === undefined) return;
    sm.remaining -= 1;
    if (sm.remaining <= 0) this.safeMode = undefined;
    const se = hadoop.safeMode(
      `${action}. Name node is in safe mode.\nIt was turned on manually. ` +
        'Use "hdfs dfsadmin -safemode leave" to turn safe mode off.',
    );
    // RetriableException(IOException) takes the wrapped exception's toString() as its message.
    throw sm.retriable ? hadoop.retriable(se.toString()) : se;
  }

  check(caller: Caller, iip: ResolvedPath, access: Parameters<typeof checkPermission>[2]): void {
    checkPermission(caller, iip, access, this.config.permissionsEnabled);
  }

  // ---- reads -------------------------------------------------------------------------------------------

  /** GETFILESTATUS: traverse permission only; undefined when missing. */
  getFileInfo(caller: Caller, path: string): INode | undefined {
    const iip = this.resolve(path);
    this.check(caller, iip, {});
    return last(iip);
  }

  /** LISTSTATUS: r-x on a directory, children in byte order of their UTF-8 names; a file lists itself. */
  listStatus(caller: Caller, path: string): FileStatusJson[] {
    const iip = this.resolve(path);
    const node = last(iip);
    this.check(caller, iip, node?.kind === 'DIRECTORY' ? { self: R | X } : {});
    if (node === undefined) throw hadoop.fileNotFound(`File ${iip.path} does not exist.`);
    if (node.kind === 'FILE') return [fileStatus(node, '')];
    return [...node.children.values()]
      .sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
      .map((child) => fileStatus(child, child.name));
  }

  /** GETCONTENTSUMMARY: r-x on every directory of the subtree. */
  contentSummaryOf(caller: Caller, path: string): INode {
    const iip = this.resolve(path);
    this.check(caller, iip, { sub: R | X });
    const node = last(iip);
    if (node === undefined) throw hadoop.fileNotFound(`File does not exist: ${iip.path}`);
    return node;
  }

  // ---- mutations ---------------------------------------------------------------------------------------

  /** MKDIRS (FSDirMkdirOp): true also when the directory exists; parents get the mode plus u+wx. */
  mkdirs(caller: Caller, path: string, permission: number): void {
    this.checkSafeMode(`Cannot create directory ${path}`);
    const iip = this.resolve(path, `Invalid path name ${path}`);
    this.check(caller, iip, {});
    const node = last(iip);
    if (node?.kind === 'FILE') throw hadoop.fileAlreadyExists(`Path is not a directory: ${iip.path}`);
    if (node !== undefined) return;
    this.check(caller, iip, { ancestor: W });
    this.createMissing(caller, iip, iip.names.length, permission | 0o300, permission);
  }

  /**
   * Creates the missing directories among the first `upTo` names of iip, one at a time as HDFS does, so a
   * quota hit half way leaves the ones already made. Returns the deepest directory.
   */
  createMissing(caller: Caller, iip: ResolvedPath, upTo: number, parentMode: number, lastMode?: number): Dir {
    let dir = this.root;
    for (let i = 0; i < upTo; i++) {
      const name = iip.names[i] ?? '';
      const existing = dir.children.get(name);
      if (existing?.kind === 'DIRECTORY') {
        dir = existing;
        continue;
      }
      if (existing !== undefined) throw hadoop.parentNotDirectory(`${pathOf(existing)} (is not a directory)`);
      const mode = i === upTo - 1 && lastMode !== undefined ? lastMode : parentMode;
      const child = this.newDir(name, dir, caller.user, dir.group, mode);
      this.addChild(dir, child);
      dir = child;
    }
    return dir;
  }

  /** RENAME without options (FSDirRenameOp.renameTo): false rather than an error for most refusals. */
  rename(caller: Caller, src: string, dst: string): boolean {
    this.checkSafeMode(`Cannot rename ${src}`);
    if (!isValidName(dst)) throw hadoop.io(`Invalid name: ${dst}`);
    const srcIIP = this.resolve(src);
    let dstIIP = this.resolve(dst);
    // dstForRenameTo: renaming onto an existing directory moves the source into it.
    if (last(dstIIP)?.kind === 'DIRECTORY') {
      dstIIP = this.resolve(`${dstIIP.path === '/' ? '' : dstIIP.path}/${srcIIP.names.at(-1) ?? ''}`);
    }
    this.check(caller, srcIIP, { parent: W });
    this.check(caller, dstIIP, { ancestor: W });
    const node = last(srcIIP);
    if (node === undefined || node.parent === undefined) return false;
    if (dstIIP.path === srcIIP.path) return true;
    if (dstIIP.path.startsWith(`${srcIIP.path}/`)) return false;
    if (last(dstIIP) !== undefined) return false;
    const dstParent = dstIIP.inodes[dstIIP.inodes.length - 2];
    if (dstParent?.kind !== 'DIRECTORY') return false;
    const usage = usageOf(node);
    this.verifyQuota(dstParent, usage.namespace, usage.space, commonAncestor(node.parent, dstParent));
    this.verifyComponentLength(dstParent, dstIIP.names.at(-1) ?? '');
    node.parent.children.delete(node.name);
    node.parent.mtime = this.now;
    node.name = dstIIP.names.at(-1) ?? '';
    node.parent = dstParent;
    dstParent.children.set(node.name, node);
    dstParent.mtime = this.now;
    return true;
  }

  /** DELETE (FSDirDeleteOp): w on the parent and rwx on every non-empty directory below. */
  delete(caller: Caller, path: string, recursive: boolean): boolean {
    this.checkSafeMode(`Cannot delete ${path}`);
    const iip = this.resolve(path);
    this.check(caller, iip, { parent: W, sub: R | W | X, ignoreEmptyDir: true });
    const node = last(iip);
    if (node?.kind === 'DIRECTORY' && node.children.size > 0 && !recursive) {
      throw hadoop.pathIsNotEmptyDirectory(`${iip.path} is non empty`);
    }
    // Missing paths and the root are refused with false, not an exception.
    if (node === undefined || node.parent === undefined) return false;
    node.parent.children.delete(node.name);
    node.parent.mtime = this.now;
    node.parent = undefined;
    return true;
  }

  /** SETPERMISSION: the owner or the superuser. */
  setPermission(caller: Caller, path: string, permission: number): void {
    this.checkSafeMode(`Cannot set permission for ${path}`);
    const node = this.owned(caller, path);
    node.permission = permission;
  }

  /** SETOWNER: only the superuser gives files away; an owner may move one to a group they belong to. */
  setOwner(caller: Caller, path: string, owner: string | undefined, group: string | undefined): void {
    this.checkSafeMode(`Cannot set owner for ${path}`);
    const node = this.owned(caller, path);
    if (this.config.permissionsEnabled && !caller.superuser) {
      if (owner !== undefined && owner !== caller.user) {
        throw hadoop.accessControl(
          `User ${caller.user} is not a super user (non-super user cannot change owner).`,
        );
      }
      if (group !== undefined && !caller.groups.includes(group)) {
        throw hadoop.accessControl(`User ${caller.user} does not belong to ${group}`);
      }
    }
    if (owner !== undefined) node.owner = owner;
    if (group !== undefined) node.group = group;
  }

  private owned(caller: Caller, path: string): INode {
    const iip = this.resolve(path);
    this.check(caller, iip, {});
    const node = last(iip);
    if (node === undefined) throw hadoop.fileNotFound(`File does not exist: ${iip.path}`);
    this.check(caller, iip, { owner: true });
    return node;
  }

  // ---- building blocks shared with the file operations -------------------------------------------------

  newDir(name: string, parent: Dir | undefined, owner: string, group: string, permission: number): Dir {
    const now = this.now;
    const id = this.nextId++;
    return {
      kind: 'DIRECTORY',
      id,
      name,
      parent,
      owner,
      group,
      permission,
      mtime: now,
      atime: 0,
      children: new Map(),
      nsQuota: -1,
      dsQuota: -1,
    };
  }

  nextInodeId(): number {
    return this.nextId++;
  }

  /** FSDirectory.addLastINode: component length and quota first, then link it in and touch the parent. */
  addChild(parent: Dir, child: INode): void {
    this.verifyComponentLength(parent, child.name);
    const usage = usageOf(child);
    this.verifyQuota(parent, usage.namespace, usage.space);
    child.parent = parent;
    parent.children.set(child.name, child);
    parent.mtime = this.now;
  }

  /**
   * FSDirectory.verifyQuota: every directory with a quota from `from` up to (not including) `stopAt`, nearest
   * first; within one, the namespace quota before the space quota.
   */
  verifyQuota(from: Dir, nsDelta: number, dsDelta: number, stopAt?: Dir): void {
    for (let d: Dir | undefined = from; d !== undefined && d !== stopAt; d = d.parent) {
      if (d.nsQuota < 0 && d.dsQuota < 0) continue;
      const usage = usageOf(d);
      if (d.nsQuota >= 0 && nsDelta > 0 && usage.namespace + nsDelta > d.nsQuota) {
        throw hadoop.nsQuotaExceeded(
          `The NameSpace quota (directories and files) of directory ${pathOf(d)} is exceeded: ` +
            `quota=${d.nsQuota} file count=${usage.namespace + nsDelta}`,
        );
      }
      if (d.dsQuota >= 0 && dsDelta > 0 && usage.space + dsDelta > d.dsQuota) {
        const consumed = usage.space + dsDelta;
        throw hadoop.dsQuotaExceeded(
          `The DiskSpace quota of ${pathOf(d)} is exceeded: quota = ${d.dsQuota} B = ${long2String(d.dsQuota, 'B', 2)}` +
            ` but diskspace consumed = ${consumed} B = ${long2String(consumed, 'B', 2)}`,
        );
      }
    }
  }

  private verifyComponentLength(parent: Dir, name: string): void {
    const length = Buffer.byteLength(name);
    if (length <= MAX_COMPONENT_LENGTH) return;
    throw hadoop.componentTooLong(
      `The maximum path component name limit of ${name} in directory ${pathOf(parent)} is exceeded: ` +
        `limit=${MAX_COMPONENT_LENGTH} length=${length}`,
    );
  }
}

/** DFSUtil.isValidName: absolute, no "." / ".." / ":" components, no "//" inside. */
export function isValidName(path: string): boolean {
  if (!path.startsWith('/')) return false;
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] ?? '';
    if (part === '.' || part === '..' || part.includes(':')) return false;
    if (part === '' && i !== parts.length - 1) return false;
  }
  return true;
}

function commonAncestor(a: Dir, b: Dir): Dir | undefined {
  const seen = new Set<Dir>();
  for (let d: Dir | undefined = a; d !== undefined; d = d.parent) seen.add(d);
  for (let d: Dir | undefined = b; d !== undefined; d = d.parent) if (seen.has(d)) return d;
  return undefined;
}
