// What a WebHDFS failure means for Sluice. Namenode and datanode errors arrive as RemoteException JSON whose
// HTTP status follows the Java class (403 for almost any IOException), so the class name decides, not the
// status. The authentication filter answers 401 with HTML, never JSON: bodies are parsed only when they are.
import { z } from 'zod';
import { SluiceError, type ErrorCode, type SluiceErrorOptions } from '../../errors.js';

/** A failed WebHDFS call: the Sluice code and retriable flag, plus the Hadoop exception and HTTP status. */
export class WebHdfsError extends SluiceError {
  constructor(
    code: ErrorCode,
    message: string,
    options: SluiceErrorOptions = {},
    /** Simple name of the Java exception (`SafeModeException`), when the answer carried one. */
    readonly exception?: string,
    readonly status?: number,
  ) {
    super(code, message, options);
  }
}

const remoteSchema = z.object({
  RemoteException: z.object({
    exception: z.string(),
    javaClassName: z.string().optional(),
    message: z.string().nullable().optional(),
  }),
});

interface Disposition {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly hint?: string;
}

const TRANSIENT: Disposition = { code: 'SLUICE_SINK_WRITE', retriable: true };

/**
 * By exception class. Retriable: the cluster recovers by itself (safe mode at startup, a standby namenode,
 * a lease still held by a writer that died, a datanode that cannot reach its namenode). Not retriable: only
 * an operator can fix it (permissions, tokens, quotas); the runner still retries, with backoff and loudly.
 */
const BY_EXCEPTION: Readonly<Record<string, Disposition>> = {
  SafeModeException: { ...TRANSIENT, hint: 'the namenode is in safe mode (starting up or by an admin)' },
  RetriableException: TRANSIENT,
  StandbyException: { ...TRANSIENT, hint: 'list every namenode of the HA pair in `namenodes`' },
  AlreadyBeingCreatedException: TRANSIENT,
  RecoveryInProgressException: TRANSIENT,
  LeaseExpiredException: TRANSIENT,
  NotReplicatedYetException: TRANSIENT,
  ConnectException: { code: 'SLUICE_UPSTREAM_UNREACHABLE', retriable: true },
  // A DataNode's cached RPC connection to a NameNode that restarted: the first write after it meets this
  // (a real cluster does it; the emulator never did), and the next attempt from step 1 goes through.
  EOFException: { ...TRANSIENT, hint: 'the namenode restarted or dropped a datanode connection' },
  AccessControlException: {
    code: 'SLUICE_AUTH',
    retriable: false,
    hint: 'grant the sink user write access to `path` and `state_dir` (hdfs dfs -chown / -chmod)',
  },
  AuthorizationException: {
    code: 'SLUICE_AUTH',
    retriable: false,
    hint: 'check hadoop.proxyuser.* settings',
  },
  SecurityException: {
    code: 'SLUICE_AUTH',
    retriable: false,
    hint: 'the cluster refused the identity: check auth.user or the delegation token',
  },
  InvalidToken: {
    code: 'SLUICE_AUTH',
    retriable: false,
    hint: 'the delegation token expired or was cancelled: fetch a new one (hdfs fetchdt) into token_file',
  },
  DSQuotaExceededException: {
    code: 'SLUICE_UPSTREAM_QUOTA',
    retriable: false,
    hint: 'raise the space quota (hdfs dfsadmin -setSpaceQuota) or free space; readings stay queued',
  },
  NSQuotaExceededException: {
    code: 'SLUICE_UPSTREAM_QUOTA',
    retriable: false,
    hint: 'raise the namespace quota (hdfs dfsadmin -setQuota) or roll files less often',
  },
  QuotaExceededException: { code: 'SLUICE_UPSTREAM_QUOTA', retriable: false },
  FileAlreadyExistsException: {
    code: 'SLUICE_SINK_WRITE',
    retriable: false,
    hint: 'another writer uses the same names: give each gateway its own id and each hdfs sink its own path or prefix',
  },
};

/** The error for a non-success answer of `op` on `path`. */
export function answerError(
  op: string,
  path: string,
  status: number,
  contentType: string | undefined,
  body: Buffer,
  challenge: string | undefined,
): WebHdfsError {
  const where = `WebHDFS ${op} ${path}`;
  if (status === 401) {
    // hadoop-auth's filter: an HTML page and a challenge, before WebHDFS saw the request.
    return new WebHdfsError(
      'SLUICE_AUTH',
      `${where}: 401 authentication required (WWW-Authenticate: ${challenge ?? 'none'})`,
      {
        retriable: false,
        hint:
          challenge?.startsWith('Negotiate') === true
            ? 'the cluster is kerberized: use auth.type kerberos (a keytab) or delegation_token'
            : 'set auth.user (pseudo auth), or use a delegation token',
      },
      undefined,
      status,
    );
  }
  const remote = contentType?.includes('json') === true ? parseRemote(body) : undefined;
  if (remote === undefined) {
    const text = body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
    // A bare 404 (no RemoteException) is Jetty before WebHDFS is up: a namenode starting, seen on a real one
    // restarting. Or a URL that is no namenode's HTTP address, which the hint names.
    const starting = status === 404;
    const retriable = starting || status >= 500 || status === 408 || status === 429;
    return new WebHdfsError(
      'SLUICE_SINK_WRITE',
      `${where}: HTTP ${status}${text ? `: ${text}` : ''}`,
      {
        retriable,
        ...(starting
          ? {
              hint: 'no WebHDFS answered: the namenode is starting, or `namenodes` is not its HTTP address (dfs.namenode.http-address)',
            }
          : {}),
      },
      undefined,
      status,
    );
  }
  const d =
    byMessage(remote.exception, remote.message) ??
    BY_EXCEPTION[remote.exception] ??
    byStatus(status, remote.exception);
  const message = `${where}: ${remote.exception}: ${remote.message ?? '(no message)'}`;
  return new WebHdfsError(
    d.code,
    message,
    { retriable: d.retriable, ...(d.hint === undefined ? {} : { hint: d.hint }) },
    remote.exception,
    status,
  );
}

/**
 * Answers whose message tells an operator more than their class; both seen on a real Hadoop 3.5 cluster,
 * never in our emulator. An expired or cancelled delegation token comes as SecurityException (wrapping
 * InvalidToken, "token (...) can't be found in cache" / "is expired"), not as InvalidToken. And with fewer
 * live DataNodes than the file's replication, the DataNode that writes for WebHDFS must add one to the
 * pipeline of an APPEND (the DEFAULT replace-datanode-on-failure policy) and has none: every append fails
 * until a DataNode is back, so it is retriable.
 */
function byMessage(exception: string, message: string | null | undefined): Disposition | undefined {
  if (exception === 'SecurityException' && message != null && /token/i.test(message)) {
    return BY_EXCEPTION.InvalidToken;
  }
  if (exception === 'IOException' && message?.includes('Failed to replace a bad datanode') === true) {
    return {
      ...TRANSIENT,
      hint:
        'fewer live datanodes than `replication`: appends wait until one is back; lower `replication`, or set ' +
        'dfs.client.block.write.replace-datanode-on-failure.best-effort=true on the datanodes',
    };
  }
  return undefined;
}

function byStatus(status: number, exception: string): Disposition {
  if (status >= 500) return TRANSIENT;
  // A plain IOException (403) is what HDFS throws for many passing datanode and pipeline troubles.
  if (exception === 'IOException') return TRANSIENT;
  return { code: 'SLUICE_SINK_WRITE', retriable: false };
}

function parseRemote(body: Buffer): z.infer<typeof remoteSchema>['RemoteException'] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    // Announced as JSON but is not (a proxy's error page): reported as text by the caller.
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
  const parsed = remoteSchema.safeParse(json);
  return parsed.success ? parsed.data.RemoteException : undefined;
}

/** Node TLS error codes that mean the certificates or host names do not match the config. */
const TLS_CODES =
  /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_)/;

/** A transport failure (refused, reset, timed out): the peer may come back. A TLS mismatch will not. */
export function transportError(op: string, path: string, host: string, err: unknown): WebHdfsError {
  const detail = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && TLS_CODES.test(code)) {
    return new WebHdfsError('SLUICE_AUTH', `WebHDFS ${op} ${path}: ${host}: TLS: ${detail}`, {
      retriable: false,
      hint: 'set tls.ca_file to the CA that signed the namenode and datanode certificates',
      cause: err,
    });
  }
  return new WebHdfsError(
    'SLUICE_UPSTREAM_UNREACHABLE',
    `WebHDFS ${op} ${path}: ${host}: ${detail}`,
    { retriable: true, cause: err },
    undefined,
    undefined,
  );
}
