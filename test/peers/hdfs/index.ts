// The real Apache Hadoop HDFS peer: one JVM running a MiniDFSCluster (HdfsPeer, src/main/java) with 3
// DataNodes and WebHDFS on loopback, driven by line commands (safe mode, quotas, kills, failover, reads
// through Hadoop's own FileSystem client). No JVM outlives the test: close() ends it, spawnJvm reaps it.
import { createInterface } from 'node:readline';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rssBytes, spawnJvm } from '../jvm.js';
import { makeHdfsCerts } from './certs.js';

/** simple: simple auth, permissions on; ha: two NameNodes (one active); secure: Kerberos, SPNEGO, HTTPS. */
export type HdfsVariant = 'simple' | 'ha' | 'secure';

export interface StartHdfsOptions {
  readonly variant?: HdfsVariant;
  /** JVM heap for the whole cluster. Default 256m (a 3-DataNode cluster runs in it; RSS ~300 MiB). */
  readonly heap?: string;
  /** Killed (SIGKILL) when not ready after this long. Default 90 s. */
  readonly startTimeoutMs?: number;
  /** Secure variant: delegation token renew interval and max lifetime (Hadoop: a day, a week). */
  readonly tokenRenewIntervalMs?: number;
  readonly tokenMaxLifetimeMs?: number;
  /** Each command's answer must come within this. Default 60 s (a NameNode restart waits for DataNodes). */
  readonly commandTimeoutMs?: number;
}

export interface HdfsNameNode {
  readonly index: number;
  /** The HA NameNode id (nn1, nn2); null without HA. */
  readonly id: string | null;
  readonly up: boolean;
  /** 'active' or 'standby' (Hadoop's HAServiceState, lower case); null when down. */
  readonly state: string | null;
  /** host:port of the client RPC (hdfs://). */
  readonly rpc: string | null;
  /** host:port of the HTTP server (WebHDFS at /webhdfs/v1). */
  readonly http: string | null;
  readonly https: string | null;
}

export interface HdfsDataNode {
  /** The transfer address, the name the NameNode knows it by; dn-restart takes it. */
  readonly name: string;
  readonly http: string | null;
  readonly https: string | null;
  readonly ipc: string;
}

export interface HdfsState {
  readonly variant: HdfsVariant;
  /** hdfs:// URI of the file system (HA: a logical name only the launcher's configuration resolves). */
  readonly fsUri: string;
  /** The user the NameNodes run as: HDFS's superuser. */
  readonly superuser: string;
  readonly supergroup: string;
  readonly namenodes: readonly HdfsNameNode[];
  readonly datanodes: readonly HdfsDataNode[];
  /** Secure variant only: the KDC and the files a client needs (krb5.conf, the test user's keytab, the CA). */
  readonly kerberos?: HdfsKerberos;
}

export interface HdfsKerberos {
  readonly realm: string;
  /** host:port of MiniKdc. */
  readonly kdc: string;
  readonly krb5Conf: string;
  /** The test user's principal (sluice@REALM); `token` answers tokens it owns. */
  readonly user: string;
  readonly userKeytab: string;
  readonly serviceKeytab: string;
  /** PEM of the CA that signed every HTTPS endpoint's certificate. */
  readonly caFile: string;
}

/** One command's answer; `error` is the Java class (the NameNode's own, e.g. SafeModeException). */
export interface HdfsAnswer {
  readonly ok: boolean;
  readonly command: string;
  readonly error?: string;
  readonly message?: string;
  readonly [key: string]: unknown;
}

export interface HdfsFileStatus {
  readonly name: string;
  readonly type: 'FILE' | 'DIRECTORY';
  readonly length: number;
  readonly permission: string;
  readonly owner: string;
  readonly group: string;
  readonly replication: number;
  readonly modificationTime: number;
}

export interface HdfsPeer {
  /** The cluster as it was when ready. */
  readonly ready: HdfsState;
  readonly variant: HdfsVariant;
  /** Process start to ready. */
  readonly startMillis: number;
  readonly rssBytes: number | undefined;
  readonly pid: number | undefined;
  /** Sends one command line (words, no spaces inside one) and resolves with its answer, ok or not. */
  command(...words: string[]): Promise<HdfsAnswer>;
  /** As command(), but rejects when the answer is not ok. */
  must(...words: string[]): Promise<HdfsAnswer>;
  /** The cluster now (after a restart or failover, ports and states may differ from `ready`). */
  state(): Promise<HdfsState>;
  /** The WebHDFS base URL (http://host:port/webhdfs/v1) of NameNode `index` (default: the active one). */
  webhdfs(index?: number): Promise<string>;
  /** Reads a file back through Hadoop's FileSystem client. */
  read(path: string): Promise<Buffer>;
  ls(path: string): Promise<HdfsFileStatus[]>;
  /** Ends the JVM (stdin closed, then SIGKILL after a grace) and removes its storage. Idempotent. */
  close(): Promise<void>;
}

const MAIN = 'dev.sluice.test.hdfs.HdfsPeer';
const STDERR_TAIL = 6000;
/** After stdin closes the cluster shuts down in a second or two; past this it is killed. */
const CLOSE_GRACE_MS = 15_000;

/** Starts a MiniDFSCluster of the given variant and resolves once every NameNode and DataNode is up. */
export async function startHdfs(options: StartHdfsOptions = {}): Promise<HdfsPeer> {
  const variant = options.variant ?? 'simple';
  const heap = options.heap ?? '256m';
  const commandTimeoutMs = options.commandTimeoutMs ?? 60_000;
  const work = await mkdtemp(join(tmpdir(), `sluice-hdfs-${variant}-`));
  const started = Date.now();
  const args = [variant, work];
  const jvmArgs = [`-Djava.io.tmpdir=${work}`]; // Hadoop's scratch files stay in what close() removes
  if (variant === 'secure') {
    const certs = join(work, 'certs');
    await mkdir(certs);
    await makeHdfsCerts(certs).catch(async (err: unknown) => {
      await rm(work, { recursive: true, force: true });
      throw err;
    });
    args.push(certs);
    if (options.tokenRenewIntervalMs !== undefined) {
      jvmArgs.push(`-Dsluice.hdfs.tokenRenewIntervalMs=${options.tokenRenewIntervalMs}`);
    }
    if (options.tokenMaxLifetimeMs !== undefined) {
      jvmArgs.push(`-Dsluice.hdfs.tokenMaxLifetimeMs=${options.tokenMaxLifetimeMs}`);
    }
  }
  const child = spawnJvm('hdfs', MAIN, args, { heap, stdin: true, jvmArgs });
  let tail = '';
  child.stderr?.on('data', (b: Buffer) => {
    tail = (tail + b.toString()).slice(-STDERR_TAIL);
  });
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(`could not start: ${err.message}`));
    child.once('exit', (code, signal) => resolve(`exited with ${code ?? signal}`));
  });
  const failure = (what: string): Error => new Error(`${what}; stderr tail:\n${tail}`);
  // Answers come in order, one line per command: a FIFO of waiting callers.
  const pending: { resolve: (a: HdfsAnswer) => void; reject: (e: Error) => void }[] = [];
  let gone: string | undefined;
  void exited.then((why) => {
    gone = why;
    for (const p of pending.splice(0)) p.reject(failure(`the HDFS peer ${why}`));
  });
  let onReady: ((line: string) => void) | undefined;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    if (onReady) {
      onReady(line);
      return;
    }
    const next = pending.shift();
    if (next === undefined) {
      tail += `\n(unexpected line on stdout: ${line})`;
      return;
    }
    try {
      next.resolve(JSON.parse(line) as HdfsAnswer);
    } catch (err) {
      next.reject(failure(`the HDFS peer answered a line that is not JSON (${String(err)}): ${line}`));
    }
  });

  let closed: Promise<void> | undefined;
  let readyAt = 0; // 0 until ready
  const close = (): Promise<void> => {
    closed ??= (async () => {
      if (gone === undefined) {
        const peak = await peakRssBytes(child.pid);
        if (peak !== undefined && readyAt > 0) {
          console.info(
            `hdfs ${variant}: peak RSS ${Math.round(peak / 2 ** 20)} MiB over ${((Date.now() - readyAt) / 1000).toFixed(1)} s of tests`,
          );
        }
        child.stdin?.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      lines.close();
      await rm(work, { recursive: true, force: true });
    })();
    return closed;
  };

  let readyLine: string;
  try {
    readyLine = await new Promise<string>((resolve, reject) => {
      // SLUICE_HDFS_START_TIMEOUT_MS: longer on a machine loaded by other work (raise vitest's hookTimeout too).
      const timeoutMs = options.startTimeoutMs ?? Number(process.env.SLUICE_HDFS_START_TIMEOUT_MS ?? 90_000);
      const timer = setTimeout(
        () => reject(failure(`the HDFS peer was not ready in ${timeoutMs} ms`)),
        timeoutMs,
      );
      onReady = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
      void exited.then((why) => {
        clearTimeout(timer);
        reject(failure(`the HDFS peer ${why} while starting`));
      });
    });
  } catch (err) {
    await close();
    throw err;
  } finally {
    onReady = undefined;
  }
  const ready = JSON.parse(readyLine) as HdfsState & { startMillis: number };
  readyAt = Date.now();
  const startMillis = readyAt - started;
  const rss = await rssBytes(child.pid);

  const command = (...words: string[]): Promise<HdfsAnswer> => {
    const bad = words.find((w) => w === '' || /\s/.test(w));
    if (bad !== undefined) return Promise.reject(new Error(`HDFS peer command word ${JSON.stringify(bad)}`));
    if (gone !== undefined) return Promise.reject(failure(`the HDFS peer ${gone}`));
    return new Promise<HdfsAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Answers are matched by order: after a lost one nothing can be trusted, so the peer goes.
        reject(failure(`the HDFS peer did not answer ${words.join(' ')} in ${commandTimeoutMs} ms`));
        void close();
      }, commandTimeoutMs);
      pending.push({
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.stdin?.write(`${words.join(' ')}\n`);
    });
  };
  const must = async (...words: string[]): Promise<HdfsAnswer> => {
    const a = await command(...words);
    if (!a.ok) throw new Error(`HDFS peer: ${words.join(' ')} failed: ${a.error}: ${a.message}`);
    return a;
  };
  const state = async (): Promise<HdfsState> => (await must('state')) as unknown as HdfsState;

  console.info(
    `hdfs ${variant}: MiniDFSCluster (${ready.namenodes.length} NameNode(s), ${ready.datanodes.length} DataNodes, ` +
      `-Xmx${heap}) up in ${(startMillis / 1000).toFixed(1)} s (cluster ${(ready.startMillis / 1000).toFixed(1)} s); ` +
      `RSS ${rss === undefined ? '?' : Math.round(rss / 2 ** 20)} MiB`,
  );
  return {
    ready,
    variant,
    startMillis,
    rssBytes: rss,
    pid: child.pid,
    command,
    must,
    state,
    async webhdfs(index?: number) {
      const nns = (await state()).namenodes;
      const nn = index === undefined ? nns.find((n) => n.state === 'active') : nns[index];
      const scheme = variant === 'secure' ? 'https' : 'http';
      const addr = variant === 'secure' ? nn?.https : nn?.http;
      if (!addr) throw new Error(`HDFS peer: no ${scheme} address for NameNode ${index ?? 'active'}`);
      return `${scheme}://${addr}/webhdfs/v1`;
    },
    async read(path: string) {
      const a = await must('read', path, 'base64');
      return Buffer.from(String(a.base64), 'base64');
    },
    async ls(path: string) {
      return (await must('ls', path)).files as HdfsFileStatus[];
    },
    close,
  };
}

/** Peak resident set size (VmHWM) of a process in bytes, or undefined when it is gone. */
async function peakRssBytes(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status && /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : undefined;
}
