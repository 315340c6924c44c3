// What the namenode and datanode handlers share: the namespace, the token manager, the settings, the fault
// switches and the request counters. One object per emulated cluster.
import type { ErrorStyle } from './errors.js';
import type { Namespace } from './namespace.js';
import type { DelegationTokens } from './tokens.js';

export interface Settings {
  readonly secure: boolean;
  readonly allowAnonymous: boolean;
  readonly alwaysUseDelegationTokens: boolean;
  readonly kerberosTickets: Readonly<Record<string, string>>;
  readonly proxyUsers: Readonly<Record<string, readonly string[]>>;
  /** The namenoderpcaddress the namenode hands out and the datanode dials. */
  readonly rpcAddress: string;
  /** The host name the namenode puts in redirects to the datanode. */
  readonly datanodeHost: string;
  readonly maxUploadBytes: number;
  readonly style: ErrorStyle;
}

export interface FaultState {
  namenodeDelayMs: number;
  datanodeDelayMs: number;
  /** Cut the connection of the next `remaining` uploads once `afterBytes` of the body have arrived. */
  drop: { afterBytes: number; remaining: number } | undefined;
}

export interface Counters {
  /** Requests per op as the client sent it, upper-cased ("" when op is missing), namenode and datanode apart. */
  readonly namenode: Record<string, number>;
  readonly datanode: Record<string, number>;
  /** Body bytes sent to the namenode, which never reads them (data sent at step 1 of a two-step write). */
  namenodeIgnoredBodyBytes: number;
  /** Body bytes the datanode received for CREATE and APPEND. */
  datanodeBytesReceived: number;
  /** Uploads cut by the dropUpload fault. */
  droppedUploads: number;
}

export interface Cluster {
  readonly ns: Namespace;
  readonly tokens: DelegationTokens;
  readonly settings: Settings;
  readonly faults: FaultState;
  readonly counters: Counters;
  /** Aborted by close(), so delayed answers do not outlive the cluster. */
  readonly closing: AbortSignal;
  namenodeIsUp(): boolean;
  datanodePort(): number;
  /** A DFSClient name for the datanode's client of one request. */
  nextClientName(): string;
  /** An emulator bug (never a Hadoop error): kept for the tests to assert there were none. */
  report(err: unknown): void;
}

export function newCounters(): Counters {
  return {
    namenode: {},
    datanode: {},
    namenodeIgnoredBodyBytes: 0,
    datanodeBytesReceived: 0,
    droppedUploads: 0,
  };
}

export function count(table: Record<string, number>, op: string): void {
  table[op] = (table[op] ?? 0) + 1;
}
