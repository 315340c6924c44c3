// WebHDFS test peer: an in-memory HDFS behind a namenode and a separate datanode HTTP server on loopback,
// speaking the WebHDFS REST API as Hadoop 3 does (two-step writes, RemoteException errors, pseudo/token
// auth, permissions, quotas, leases), with fault switches. Deviations from HDFS are listed in README.md.
import type { Cluster, Counters, FaultState } from './context.js';
import { newCounters } from './context.js';
import { datanodeHandler } from './datanode.js';
import { hadoop } from './errors.js';
import { Listener } from './http.js';
import { contentSummary, fileContent, fileStatus, last, usageOf } from './inode.js';
import type { FileNode, FileStatusJson, INode } from './inode.js';
import { namenodeHandler } from './namenode.js';
import { Namespace } from './namespace.js';
import { DelegationTokens } from './tokens.js';

export type { Counters } from './context.js';
export type { FileStatusJson } from './inode.js';
export { decodeToken } from './tokens.js';
export type { TokenIdentifier } from './tokens.js';

export interface WebHdfsOptions {
  /** hadoop.security.authentication=kerberos: only delegation tokens (or a configured ticket) get in. */
  secure?: boolean;
  /** hadoop.http.authentication.simple.anonymous.allowed (Hadoop's default: true; anonymous is dr.who). */
  allowAnonymous?: boolean;
  /** dfs.namenode.delegation.token.always-use: issue tokens with security off too. Default false. */
  alwaysUseDelegationTokens?: boolean;
  /** SPNEGO stand-in for secure mode: `Authorization: Negotiate <ticket>` authenticates as the mapped user. */
  kerberosTickets?: Record<string, string>;
  /** hadoop.proxyuser.<user>.users: who may `doas` whom ('*' for anyone). */
  proxyUsers?: Record<string, readonly string[]>;
  /** The HDFS superuser (the namenode's user). Default "hdfs". */
  superuser?: string;
  /** dfs.permissions.superusergroup. Default "supergroup". */
  supergroup?: string;
  /** The namenode's group mapping. Users not listed belong to no group. */
  groups?: Record<string, readonly string[]>;
  /** dfs.permissions.enabled. Default true. */
  permissionsEnabled?: boolean;
  /** dfs.blocksize. Default 134217728. */
  defaultBlockSize?: number;
  /** dfs.replication. Default 3. */
  defaultReplication?: number;
  /** dfs.namenode.fs-limits.min-block-size. Default 1048576; lower it to test quotas with small blocks. */
  minBlockSize?: number;
  /** dfs.replication.max. Default 512. */
  maxReplication?: number;
  /** Lease soft limit after a writer dies. Default 60000 as in HDFS. */
  leaseSoftLimitMs?: number;
  /** dfs.namenode.delegation.token.renew-interval. Default one day. */
  tokenRenewIntervalMs?: number;
  /** dfs.namenode.delegation.token.max-lifetime. Default seven days. */
  tokenMaxLifetimeMs?: number;
  /** The namenoderpcaddress put in redirects. Default "127.0.0.1:8020" (nothing listens there). */
  rpcAddress?: string;
  /** The datanode host name put in redirects. Default "127.0.0.1". */
  datanodeHost?: string;
  /** Emulator guard, not HDFS: larger request bodies are cut with a 413. Default 64 MiB. */
  maxUploadBytes?: number;
  /** 403 (Hadoop 3's ExceptionHandler, the default) or 401 (the WebHDFS page's table, Hadoop 2). */
  securityExceptionStatus?: 401 | 403;
  /** Clock for mtimes, leases and tokens. */
  now?: () => number;
}

export interface NodeAttributes {
  owner?: string;
  group?: string;
  permission?: number;
}

/** Direct access to the namespace for test setup and assertions: no HTTP, no permission or safe-mode checks. */
export interface WebHdfsFs {
  /** The FileStatus JSON GETFILESTATUS would return, or undefined. */
  stat(path: string): FileStatusJson | undefined;
  /** A file's bytes, or undefined when it is missing or a directory. */
  read(path: string): Buffer | undefined;
  /** Child names in listing order. */
  list(path: string): string[];
  /** Missing directories on the way are made as `attributes.owner` (default: the superuser) would make them. */
  mkdirs(path: string, attributes?: NodeAttributes): void;
  writeFile(
    path: string,
    data: Buffer | string,
    attributes?: NodeAttributes & { replication?: number; blockSize?: number },
  ): void;
  chmod(path: string, permission: number): void;
  chown(path: string, owner: string, group?: string): void;
  /** dfsadmin -setQuota / -setSpaceQuota; undefined or -1 clears. Space counts bytes times replication. */
  setQuota(path: string, quota: { namespace?: number; space?: number }): void;
  /** The ContentSummary JSON GETCONTENTSUMMARY would return. */
  contentSummary(path: string): unknown;
  /** The lease holder of a file under construction, or undefined. */
  leaseHolder(path: string): string | undefined;
}

export interface WebHdfsFaults {
  /** Closes the namenode's listener and drops its connections (ECONNREFUSED); datanode calls to it fail too. */
  namenodeDown(): Promise<void>;
  /** Listens again on the same port. */
  namenodeUp(): Promise<void>;
  datanodeDown(): Promise<void>;
  datanodeUp(): Promise<void>;
  /**
   * The datanode cuts the connection of the next `times` CREATE/APPEND uploads once `afterBytes` of the body
   * have arrived. Those bytes stay in the file: the datanode closes its stream when the channel goes inactive.
   */
  dropUpload(afterBytes: number, times?: number): void;
  /** Namespace mutations fail with SafeModeException (or RetriableException): the next `requests`, or until left. */
  enterSafeMode(options?: { requests?: number; retriable?: boolean }): void;
  leaveSafeMode(): void;
  /** Sets the space quota of `dir` to what it uses now: the next block allocated below it fails. */
  exhaustSpaceQuota(dir?: string): void;
  /** Delays every answer of a server. */
  delay(ms: { namenode?: number; datanode?: number }): void;
  /** Both servers up, no delay, no drop, no safe mode. Quotas stay. */
  clear(): Promise<void>;
}

export interface WebHdfs {
  /** http://127.0.0.1:port, the WebHDFS endpoint of the namenode. */
  readonly namenodeUrl: string;
  readonly datanodeUrl: string;
  readonly rpcAddress: string;
  readonly fs: WebHdfsFs;
  readonly faults: WebHdfsFaults;
  /** Mint a token as `hdfs fetchdt` would after a kinit: how a gateway gets one in secure mode. */
  issueDelegationToken(owner: string, renewer?: string): string;
  /** A copy of the request counters. */
  counters(): Counters;
  resetCounters(): void;
  /** Emulator bugs seen while serving; a test can assert this stays empty. */
  internalErrors(): readonly unknown[];
  close(): Promise<void>;
}

export async function startWebHdfs(options: WebHdfsOptions = {}): Promise<WebHdfs> {
  const now = options.now ?? Date.now;
  const rpcAddress = options.rpcAddress ?? '127.0.0.1:8020';
  const ns = new Namespace({
    superuser: options.superuser ?? 'hdfs',
    supergroup: options.supergroup ?? 'supergroup',
    groups: options.groups ?? {},
    permissionsEnabled: options.permissionsEnabled ?? true,
    defaultBlockSize: options.defaultBlockSize ?? 134_217_728,
    defaultReplication: options.defaultReplication ?? 3,
    minBlockSize: options.minBlockSize ?? 1_048_576,
    maxReplication: options.maxReplication ?? 512,
    leaseSoftLimitMs: options.leaseSoftLimitMs ?? 60_000,
    now,
  });
  const tokens = new DelegationTokens({
    renewIntervalMs: options.tokenRenewIntervalMs ?? 86_400_000,
    maxLifetimeMs: options.tokenMaxLifetimeMs ?? 604_800_000,
    service: rpcAddress,
    now,
  });
  const faults: FaultState = { namenodeDelayMs: 0, datanodeDelayMs: 0, drop: undefined };
  let counters = newCounters();
  const errors: unknown[] = [];
  const closing = new AbortController();
  let clients = 0;
  // Filled in below; the handlers only look once a request arrives, after both listeners exist.
  const listeners: { namenode?: Listener; datanode?: Listener } = {};
  const cluster: Cluster = {
    ns,
    tokens,
    faults,
    get counters() {
      return counters;
    },
    closing: closing.signal,
    settings: {
      secure: options.secure ?? false,
      allowAnonymous: options.allowAnonymous ?? true,
      alwaysUseDelegationTokens: options.alwaysUseDelegationTokens ?? false,
      kerberosTickets: options.kerberosTickets ?? {},
      proxyUsers: options.proxyUsers ?? {},
      rpcAddress,
      datanodeHost: options.datanodeHost ?? '127.0.0.1',
      maxUploadBytes: options.maxUploadBytes ?? 64 * 1024 * 1024,
      style: { securityExceptionStatus: options.securityExceptionStatus ?? 403 },
    },
    namenodeIsUp: () => listeners.namenode?.isUp ?? false,
    datanodePort: () => listeners.datanode?.portNumber ?? 0,
    nextClientName: () => `DFSClient_NONMAPREDUCE_${++clients}_1`,
    report: (err) => errors.push(err),
  };
  const nn = new Listener(namenodeHandler(cluster), cluster.report);
  const dn = new Listener(datanodeHandler(cluster), cluster.report);
  listeners.namenode = nn;
  listeners.datanode = dn;
  await nn.start();
  await dn.start();

  const node = (path: string): INode | undefined => last(ns.resolve(path));
  const fileAt = (path: string): FileNode | undefined => {
    const n = node(path);
    return n?.kind === 'FILE' ? n : undefined;
  };
  const existing = (path: string): INode => {
    const n = node(path);
    if (n === undefined) throw hadoop.fileNotFound(`File does not exist: ${path}`);
    return n;
  };
  const admin = ns.caller(ns.config.superuser);
  // Setup acts as `hdfs dfs -mkdir -p` / `-put` run by the owner-to-be: missing directories are theirs.
  const actor = (attributes: NodeAttributes) => ns.caller(attributes.owner ?? ns.config.superuser);

  const fs: WebHdfsFs = {
    stat: (path) => {
      const n = node(path);
      return n === undefined ? undefined : fileStatus(n, '');
    },
    read: (path) => {
      const f = fileAt(path);
      return f === undefined ? undefined : Buffer.from(fileContent(f));
    },
    list: (path) => {
      const n = existing(path);
      return n.kind === 'FILE' ? [n.name] : ns.listStatus(admin, path).map((s) => s.pathSuffix);
    },
    mkdirs: (path, attributes = {}) => {
      const iip = ns.resolve(path);
      const dir = ns.createMissing(actor(attributes), iip, iip.names.length, 0o755);
      applyAttributes(dir, attributes);
    },
    writeFile: (path, data, attributes = {}) => {
      const iip = ns.resolve(path);
      const dir = ns.createMissing(actor(attributes), iip, iip.names.length - 1, 0o755);
      const name = iip.names.at(-1) ?? '';
      const old = dir.children.get(name);
      if (old?.kind === 'DIRECTORY') throw hadoop.fileAlreadyExists(`${path} already exists as a directory`);
      if (old !== undefined) dir.children.delete(name);
      const bytes = Buffer.from(data);
      const t = now();
      const file: FileNode = {
        kind: 'FILE',
        id: ns.nextInodeId(),
        name,
        parent: undefined,
        owner: ns.config.superuser,
        group: dir.group,
        permission: 0o644,
        mtime: t,
        atime: t,
        chunks: [bytes],
        length: bytes.length,
        replication: attributes.replication ?? ns.config.defaultReplication,
        blockSize: attributes.blockSize ?? ns.config.defaultBlockSize,
        lease: undefined,
        ucBlockEnd: undefined,
      };
      ns.addChild(dir, file);
      applyAttributes(file, attributes);
    },
    chmod: (path, permission) => {
      existing(path).permission = permission;
    },
    chown: (path, owner, group) => {
      const n = existing(path);
      n.owner = owner;
      if (group !== undefined) n.group = group;
    },
    setQuota: (path, quota) => {
      const n = existing(path);
      if (n.kind !== 'DIRECTORY') throw hadoop.io(`Cannot set quota on a file: ${path}`);
      n.nsQuota = quota.namespace ?? -1;
      n.dsQuota = quota.space ?? -1;
    },
    contentSummary: (path) => contentSummary(existing(path)),
    leaseHolder: (path) => fileAt(path)?.lease?.holder,
  };

  const webhdfs: WebHdfs = {
    namenodeUrl: nn.url,
    datanodeUrl: dn.url,
    rpcAddress,
    fs,
    faults: {
      namenodeDown: () => nn.stop(),
      namenodeUp: () => nn.start(),
      datanodeDown: () => dn.stop(),
      datanodeUp: () => dn.start(),
      dropUpload: (afterBytes, times = 1) => {
        faults.drop = { afterBytes, remaining: times };
      },
      enterSafeMode: ({ requests, retriable } = {}) => {
        ns.safeMode = { remaining: requests ?? Infinity, retriable: retriable ?? false };
      },
      leaveSafeMode: () => {
        ns.safeMode = undefined;
      },
      exhaustSpaceQuota: (dir = '/') => {
        const n = existing(dir);
        if (n.kind !== 'DIRECTORY') throw hadoop.io(`Cannot set quota on a file: ${dir}`);
        n.dsQuota = usageOf(n).space;
      },
      delay: ({ namenode: nnMs, datanode: dnMs }) => {
        if (nnMs !== undefined) faults.namenodeDelayMs = nnMs;
        if (dnMs !== undefined) faults.datanodeDelayMs = dnMs;
      },
      clear: async () => {
        faults.namenodeDelayMs = 0;
        faults.datanodeDelayMs = 0;
        faults.drop = undefined;
        ns.safeMode = undefined;
        await nn.start();
        await dn.start();
      },
    },
    issueDelegationToken: (owner, renewer) => tokens.issue(owner, renewer ?? owner),
    counters: () => structuredClone(counters),
    resetCounters: () => {
      counters = newCounters();
    },
    internalErrors: () => [...errors],
    close: async () => {
      closing.abort();
      await Promise.all([nn.stop(), dn.stop()]);
    },
  };
  return webhdfs;
}

function applyAttributes(n: INode, attributes: NodeAttributes): void {
  if (attributes.owner !== undefined) n.owner = attributes.owner;
  if (attributes.group !== undefined) n.group = attributes.group;
  if (attributes.permission !== undefined) n.permission = attributes.permission;
}
