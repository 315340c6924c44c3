// FSPermissionChecker.checkPermission as the default authorization provider runs it: traverse (x) on every
// existing ancestor, then the ancestor/parent/self/subtree/owner checks an operation asks for, owner bits only
// for the owner, group bits only for a member, other bits for the rest; the superuser skips all of it.
import { hadoop } from './errors.js';
import { FS_ACTION, permissionString, prefixPath } from './inode.js';
import type { INode, ResolvedPath } from './inode.js';

export const R = 4;
export const W = 2;
export const X = 1;

export interface Caller {
  readonly user: string;
  readonly groups: readonly string[];
  readonly superuser: boolean;
}

/** The arguments of checkPermission(pc, iip, doCheckOwner, ancestorAccess, parentAccess, access, subAccess). */
export interface AccessCheck {
  owner?: boolean;
  ancestor?: number;
  parent?: number;
  self?: number;
  sub?: number;
  /** subAccess skips empty directories (DELETE passes true). */
  ignoreEmptyDir?: boolean;
}

/**
 * Even with permissions off, or for the superuser, resolving a path fails when an existing non-final
 * component is a file (FSPermissionChecker.checkSimpleTraverse).
 */
export function checkTraversable(iip: ResolvedPath): void {
  for (let i = 0; i < iip.inodes.length - 1; i++) {
    const node = iip.inodes[i];
    if (node === undefined) return;
    if (node.kind !== 'DIRECTORY') {
      throw hadoop.parentNotDirectory(`${prefixPath(iip, i)} (is not a directory)`);
    }
  }
}

export function checkPermission(
  caller: Caller,
  iip: ResolvedPath,
  check: AccessCheck,
  enabled: boolean,
): void {
  checkTraversable(iip);
  if (!enabled || caller.superuser) return;
  const n = iip.inodes.length;
  // The nearest existing ancestor of the last component: where a create would add the new node.
  let ancestorIndex = n - 2;
  while (ancestorIndex >= 0 && iip.inodes[ancestorIndex] === undefined) ancestorIndex--;
  for (let i = 0; i <= ancestorIndex; i++) requireAccess(caller, iip, i, X);
  const lastNode = iip.inodes[n - 1];
  if (check.parent !== undefined && (check.parent & W) !== 0 && n > 1 && lastNode !== undefined) {
    checkStickyBit(caller, iip, n - 2);
  }
  if (check.ancestor !== undefined && n > 1 && ancestorIndex >= 0)
    requireAccess(caller, iip, ancestorIndex, check.ancestor);
  if (check.parent !== undefined && n > 1) requireAccess(caller, iip, n - 2, check.parent);
  if (check.self !== undefined) requireAccess(caller, iip, n - 1, check.self);
  if (check.sub !== undefined && lastNode !== undefined) {
    checkSubAccess(caller, lastNode, prefixPath(iip, n - 1), check.sub, check.ignoreEmptyDir ?? false);
  }
  if (check.owner === true && lastNode !== undefined && lastNode.owner !== caller.user) {
    throw hadoop.accessControl(
      `Permission denied. user=${caller.user} is not the owner of inode=${iip.path}`,
    );
  }
}

function modeFor(caller: Caller, node: INode): number {
  if (node.owner === caller.user) return (node.permission >> 6) & 7;
  if (caller.groups.includes(node.group)) return (node.permission >> 3) & 7;
  return node.permission & 7;
}

function requireAccess(caller: Caller, iip: ResolvedPath, i: number, access: number): void {
  const node = iip.inodes[i];
  if (node === undefined) return;
  requireNodeAccess(caller, node, prefixPath(iip, i), access);
}

function requireNodeAccess(caller: Caller, node: INode, path: string, access: number): void {
  if ((modeFor(caller, node) & access) === access) return;
  // FSPermissionChecker.toAccessControlString.
  throw hadoop.accessControl(
    `Permission denied: user=${caller.user}, access=${FS_ACTION[access] ?? String(access)}, inode="${path}":` +
      `${node.owner}:${node.group}:${node.kind === 'DIRECTORY' ? 'd' : '-'}${permissionString(node.permission)}`,
  );
}

function checkSubAccess(
  caller: Caller,
  root: INode,
  rootPath: string,
  access: number,
  ignoreEmpty: boolean,
): void {
  if (root.kind !== 'DIRECTORY') return;
  const pending: [INode, string][] = [[root, rootPath]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [node, path] = next;
    if (node.kind !== 'DIRECTORY') continue;
    if (!(ignoreEmpty && node.children.size === 0)) requireNodeAccess(caller, node, path, access);
    for (const child of node.children.values()) {
      pending.push([child, path === '/' ? `/${child.name}` : `${path}/${child.name}`]);
    }
  }
}

/** A sticky parent lets only the parent's owner or the node's owner remove or rename the node. */
function checkStickyBit(caller: Caller, iip: ResolvedPath, parentIndex: number): void {
  const parent = iip.inodes[parentIndex];
  const node = iip.inodes[parentIndex + 1];
  if (parent === undefined || node === undefined || (parent.permission & 0o1000) === 0) return;
  if (node.owner === caller.user || parent.owner === caller.user) return;
  throw hadoop.accessControl(
    `Permission denied by sticky bit: user=${caller.user}, path="${iip.path}":${node.owner}:${node.group}:` +
      `${node.kind === 'DIRECTORY' ? 'd' : '-'}${permissionString(node.permission)}, ` +
      `parent="${prefixPath(iip, parentIndex)}":${parent.owner}:${parent.group}:d${permissionString(parent.permission)}`,
  );
}
