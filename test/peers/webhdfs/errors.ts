// Hadoop exceptions as WebHDFS puts them on the wire: the RemoteException JSON of JsonUtil.toJsonString(Exception)
// and the HTTP status that ExceptionHandler maps from the Java class hierarchy.
import type { ServerResponse } from 'node:http';

/** Where the Java class sits in the hierarchy ExceptionHandler tests with instanceof, in its order. */
export type ExceptionKind =
  | 'security'
  | 'notFound'
  | 'io'
  | 'unsupported'
  | 'illegalArgument'
  | 'runtime'
  /** Not Hadoop: an op real WebHDFS serves and the emulator does not, answered 501 so nobody mistakes it. */
  | 'notEmulated';

export class HadoopError extends Error {
  constructor(
    readonly javaClassName: string,
    readonly detail: string | null,
    readonly kind: ExceptionKind,
  ) {
    super(detail ?? javaClassName);
  }

  /** Class.getSimpleName(): SecretManager$InvalidToken is "InvalidToken". */
  get exception(): string {
    return this.javaClassName.slice(
      Math.max(this.javaClassName.lastIndexOf('.'), this.javaClassName.lastIndexOf('$')) + 1,
    );
  }

  /** Throwable.toString(), which Hadoop embeds when it wraps one exception in another. */
  override toString(): string {
    return this.detail === null ? this.javaClassName : `${this.javaClassName}: ${this.detail}`;
  }

  /** JsonUtil.toJsonString(Exception): a TreeMap, so the keys come out sorted. */
  toJson(): string {
    return JSON.stringify({
      RemoteException: { exception: this.exception, javaClassName: this.javaClassName, message: this.detail },
    });
  }
}

const make =
  (javaClassName: string, kind: ExceptionKind) =>
  (message: string | null): HadoopError =>
    new HadoopError(javaClassName, message, kind);

/** The exceptions the emulator raises, each with the Java class Hadoop raises in that situation. */
export const hadoop = {
  illegalArgument: make('java.lang.IllegalArgumentException', 'illegalArgument'),
  unsupported: make('java.lang.UnsupportedOperationException', 'unsupported'),
  security: make('java.lang.SecurityException', 'security'),
  nullPointer: make('java.lang.NullPointerException', 'runtime'),
  io: make('java.io.IOException', 'io'),
  fileNotFound: make('java.io.FileNotFoundException', 'notFound'),
  eof: make('java.io.EOFException', 'io'),
  connect: make('java.net.ConnectException', 'io'),
  accessControl: make('org.apache.hadoop.security.AccessControlException', 'io'),
  invalidToken: make('org.apache.hadoop.security.token.SecretManager$InvalidToken', 'io'),
  fileAlreadyExists: make('org.apache.hadoop.fs.FileAlreadyExistsException', 'io'),
  parentNotDirectory: make('org.apache.hadoop.fs.ParentNotDirectoryException', 'io'),
  // InvalidPathException extends HadoopIllegalArgumentException, hence 400.
  invalidPath: make('org.apache.hadoop.fs.InvalidPathException', 'illegalArgument'),
  // PathIOException formats its message as "`path': error".
  pathIsNotEmptyDirectory: (path: string) =>
    new HadoopError(
      'org.apache.hadoop.fs.PathIsNotEmptyDirectoryException',
      `\`${path}': Directory is not empty`,
      'io',
    ),
  safeMode: make('org.apache.hadoop.hdfs.server.namenode.SafeModeException', 'io'),
  retriable: make('org.apache.hadoop.ipc.RetriableException', 'io'),
  notEmulated: (op: string) =>
    new HadoopError('java.lang.UnsupportedOperationException', `op=${op} is not emulated`, 'notEmulated'),
  nsQuotaExceeded: make('org.apache.hadoop.hdfs.protocol.NSQuotaExceededException', 'io'),
  dsQuotaExceeded: make('org.apache.hadoop.hdfs.protocol.DSQuotaExceededException', 'io'),
  alreadyBeingCreated: make('org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException', 'io'),
  componentTooLong: make(
    'org.apache.hadoop.hdfs.protocol.FSLimitException$PathComponentTooLongException',
    'io',
  ),
} as const;

export interface ErrorStyle {
  /**
   * Hadoop 3's ExceptionHandler answers SecurityException with 403; the WebHDFS page's table (and Hadoop 2's
   * handler) say 401. Default 403, the code.
   */
  securityExceptionStatus: 401 | 403;
}

/** ExceptionHandler.toResponse: the status comes from the exception's place in the class hierarchy. */
export function statusOf(err: HadoopError, style: ErrorStyle): number {
  switch (err.kind) {
    case 'security':
      return style.securityExceptionStatus;
    case 'notFound':
      return 404;
    case 'io':
      return 403;
    case 'unsupported':
    case 'illegalArgument':
      return 400;
    case 'runtime':
      return 500;
    case 'notEmulated':
      return 501;
  }
}

/** Anything that is not a HadoopError is an emulator bug; Hadoop would answer it as a RuntimeException. */
export function toHadoopError(err: unknown): HadoopError {
  if (err instanceof HadoopError) return err;
  return new HadoopError(
    'java.lang.RuntimeException',
    err instanceof Error ? err.message : String(err),
    'runtime',
  );
}

export function sendHadoopError(
  res: ServerResponse,
  err: HadoopError,
  style: ErrorStyle,
  headers: Record<string, string> = {},
): void {
  const body = Buffer.from(err.toJson());
  res.writeHead(statusOf(err, style), {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': String(body.length),
  });
  res.end(body);
}

/**
 * hadoop-auth's AuthenticationFilter rejects before WebHDFS sees the request, with Jetty's sendError page:
 * HTML, not RemoteException JSON, and a WWW-Authenticate challenge (PseudoAuth or Negotiate).
 */
export function sendAuthenticationRequired(res: ServerResponse, path: string, challenge: string): void {
  const body = Buffer.from(
    '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n' +
      '<title>Error 401 Authentication required</title>\n</head>\n<body><h2>HTTP ERROR 401</h2>\n' +
      `<p>Problem accessing ${escapeHtml(path)}. Reason:\n<pre>    Authentication required</pre></p>\n</body>\n</html>\n`,
  );
  res.writeHead(401, {
    'WWW-Authenticate': challenge,
    'Cache-Control': 'must-revalidate,no-cache,no-store',
    'Content-Type': 'text/html;charset=utf-8',
    'Content-Length': String(body.length),
  });
  res.end(body);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const PREFIXES = ['K', 'M', 'G', 'T', 'P', 'E'];

/** StringUtils.TraditionalBinaryPrefix.long2String, used in quota messages ("384 MB", "1.50 KB"). */
export function long2String(n: number, unit: string, decimalPlaces: number): string {
  const sign = n < 0 ? '-' : '';
  const v = Math.abs(n);
  if (v < 1024) return `${sign}${v} ${unit}`;
  let i = 0;
  while (i + 1 < PREFIXES.length && v >= 1024 ** (i + 2)) i++;
  let scale = 1024 ** (i + 1);
  let text = v % scale === 0 ? String(v / scale) : (v / scale).toFixed(decimalPlaces);
  if (text.startsWith('1024') && i + 1 < PREFIXES.length) {
    // Hadoop's own special case: 1023.999 rounds up to the next prefix.
    i++;
    scale *= 1024;
    text = (v / scale).toFixed(decimalPlaces);
  }
  return `${sign}${text} ${PREFIXES[i] ?? '?'}${unit}`;
}
