// A small WebHDFS client on node:http/node:https (fetch would need the `undici` package for a custom CA): the
// two-step CREATE/APPEND/OPEN through the namenode's 307 to a datanode, and the metadata ops the sink needs.
// It never retries a write by itself: a failed upload may have left a torn file, and only the caller knows
// what to do about that. Several namenodes (an HA pair) are tried in turn past a refusal or a standby.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import { WebHdfsError, answerError, transportError } from './classify.js';
import type { Negotiator } from './kerberos.js';

export interface WebHdfsClientOptions {
  /** Namenode HTTP(S) base URLs, e.g. `http://nn1:9870`; tried in order, the last good one first. */
  readonly namenodes: readonly string[];
  /**
   * Query parameters naming the caller, asked for on every request (`user.name`, `delegation`); a promise
   * when getting them may need the namenode (a delegation token fetched or renewed first).
   */
  readonly auth: () => Readonly<Record<string, string>> | Promise<Readonly<Record<string, string>>>;
  /** For https (swebhdfs) namenodes: CA, client certificate, host name check (config/tls.ts reads them). */
  readonly tls?: ConnectionOptions;
  /** Deadline of one HTTP exchange, upload included. */
  readonly requestTimeoutMs: number;
}

export interface CreateOptions {
  readonly overwrite: boolean;
  /** Octal, e.g. `640`. */
  readonly permission?: string;
  readonly replication?: number;
  readonly blockSize?: number;
}

const statusSchema = z.object({
  pathSuffix: z.string(),
  type: z.enum(['FILE', 'DIRECTORY', 'SYMLINK']),
  length: z.number(),
  modificationTime: z.number(),
});
export type FileStatus = z.infer<typeof statusSchema>;

const booleanAnswer = z.object({ boolean: z.boolean() });
const statusAnswer = z.object({ FileStatus: statusSchema });
const listAnswer = z.object({ FileStatuses: z.object({ FileStatus: z.array(statusSchema) }) });
const tokenAnswer = z.object({ Token: z.object({ urlString: z.string().min(1) }) });
const longAnswer = z.object({ long: z.number() });

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Larger answers are cut: nothing the sink reads (statuses, listings, its manifests) comes near. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export class WebHdfsClient {
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent: HttpsAgent;
  private current = 0;

  constructor(private readonly options: WebHdfsClientOptions) {
    if (options.namenodes.length === 0) throw new Error('WebHdfsClient needs at least one namenode');
    this.httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 8, ...options.tls });
  }

  /** Two-step CREATE: the namenode names a datanode, the data goes there. Resolves on 201 only. */
  async create(path: string, data: Buffer, o: CreateOptions): Promise<void> {
    const params: Record<string, string> = { overwrite: String(o.overwrite) };
    if (o.permission !== undefined) params.permission = o.permission;
    if (o.replication !== undefined) params.replication = String(o.replication);
    if (o.blockSize !== undefined) params.blocksize = String(o.blockSize);
    const location = await this.redirect('PUT', 'CREATE', path, params);
    const ans = await this.send('PUT', location, 'CREATE', path, data);
    if (ans.status !== 201) throw this.error('CREATE', path, ans);
  }

  /** Two-step APPEND. A failure may have appended part of `data`: never resend it blindly. */
  async append(path: string, data: Buffer): Promise<void> {
    const location = await this.redirect('POST', 'APPEND', path, {});
    const ans = await this.send('POST', location, 'APPEND', path, data);
    if (ans.status !== 200) throw this.error('APPEND', path, ans);
  }

  /** Two-step OPEN: the whole file (small files only; see MAX_ANSWER_BYTES). */
  async open(path: string): Promise<Buffer> {
    const location = await this.redirect('GET', 'OPEN', path, {});
    const ans = await this.send('GET', location, 'OPEN', path);
    if (ans.status !== 200) throw this.error('OPEN', path, ans);
    return ans.body;
  }

  /** MKDIRS with parents; true also when the directory exists. */
  async mkdirs(path: string): Promise<void> {
    const ans = await this.namenode('PUT', 'MKDIRS', path, {});
    if (!this.json(ans, 'MKDIRS', path, booleanAnswer).boolean) {
      // Not retriable: HDFS says false for a path it will not make (a file in the way), not for a passing fault.
      throw new WebHdfsError('SLUICE_SINK_WRITE', `WebHDFS MKDIRS ${path}: refused`, { retriable: false });
    }
  }

  /** RENAME: HDFS answers false (not an error) when the source is missing or the destination exists. */
  async rename(from: string, to: string): Promise<boolean> {
    const ans = await this.namenode('PUT', 'RENAME', from, { destination: to });
    return this.json(ans, 'RENAME', from, booleanAnswer).boolean;
  }

  /** DELETE: false when nothing was there. */
  async delete(path: string, recursive: boolean): Promise<boolean> {
    const ans = await this.namenode('DELETE', 'DELETE', path, { recursive: String(recursive) });
    return this.json(ans, 'DELETE', path, booleanAnswer).boolean;
  }

  /** GETFILESTATUS; undefined when the path does not exist. */
  async status(path: string): Promise<FileStatus | undefined> {
    const ans = await this.namenode('GET', 'GETFILESTATUS', path, {});
    if (notFound(ans)) return undefined;
    return this.json(ans, 'GETFILESTATUS', path, statusAnswer).FileStatus;
  }

  /** LISTSTATUS of a directory; undefined when it does not exist. */
  async list(path: string): Promise<FileStatus[] | undefined> {
    const ans = await this.namenode('GET', 'LISTSTATUS', path, {});
    if (notFound(ans)) return undefined;
    return this.json(ans, 'LISTSTATUS', path, listAnswer).FileStatuses.FileStatus;
  }

  /**
   * GETDELEGATIONTOKEN over SPNEGO (a token cannot be had with a token); the caller, as its renewer, may renew
   * it. The answer's URL-safe string is what `delegation=` takes.
   */
  async getDelegationToken(negotiate: Negotiator): Promise<string> {
    const ans = await this.namenode('GET', 'GETDELEGATIONTOKEN', '/', {}, negotiate);
    return this.json(ans, 'GETDELEGATIONTOKEN', '/', tokenAnswer).Token.urlString;
  }

  /** RENEWDELEGATIONTOKEN over SPNEGO: the token's new expiry (ms since the epoch), capped at its max lifetime. */
  async renewDelegationToken(token: string, negotiate: Negotiator): Promise<number> {
    const ans = await this.namenode('PUT', 'RENEWDELEGATIONTOKEN', '/', { token }, negotiate);
    return this.json(ans, 'RENEWDELEGATIONTOKEN', '/', longAnswer).long;
  }

  /** CANCELDELEGATIONTOKEN over SPNEGO: the namenode forgets the token at once. */
  async cancelDelegationToken(token: string, negotiate: Negotiator): Promise<void> {
    const ans = await this.namenode('PUT', 'CANCELDELEGATIONTOKEN', '/', { token }, negotiate);
    if (ans.status !== 200) throw this.error('CANCELDELEGATIONTOKEN', '/', ans);
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** Step 1 of a two-step op: no body to the namenode, a 307 with the datanode URL back. */
  private async redirect(
    method: string,
    op: string,
    path: string,
    params: Record<string, string>,
  ): Promise<URL> {
    const ans = await this.namenode(method, op, path, params);
    const location = ans.headers.location;
    if (ans.status !== 307 || location === undefined) throw this.error(op, path, ans);
    const url = new URL(location);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new WebHdfsError('SLUICE_SINK_WRITE', `WebHDFS ${op} ${path}: redirect to ${location}`, {
        retriable: false, // a namenode redirecting to another scheme is misconfigured, not passing trouble
      });
    }
    return url;
  }

  /**
   * One request to the namenode, moving on to the next configured one past a refusal or a standby. With
   * `negotiate` it authenticates by SPNEGO (the token ops) instead of the `auth` parameters.
   */
  private async namenode(
    method: string,
    op: string,
    path: string,
    params: Record<string, string>,
    negotiate?: Negotiator,
  ): Promise<Answer> {
    const nodes = this.options.namenodes;
    let failure: WebHdfsError | undefined;
    for (let i = 0; i < nodes.length; i++) {
      const index = (this.current + i) % nodes.length;
      const url = new URL(`${(nodes[index] ?? '').replace(/\/+$/, '')}/webhdfs/v1${encodePath(path)}`);
      url.searchParams.set('op', op);
      if (negotiate === undefined) {
        for (const [k, v] of Object.entries(await this.options.auth())) url.searchParams.set(k, v);
      }
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      try {
        const negotiation = negotiate === undefined ? undefined : await negotiate(url);
        const headers: Record<string, string> =
          negotiation === undefined ? {} : { Authorization: negotiation.authorization };
        const ans = await this.send(method, url, op, path, undefined, headers);
        if (negotiation !== undefined && ans.status >= 200 && ans.status < 300) {
          await negotiation.verify(ans.headers['www-authenticate']);
        }
        if (ans.status === 403 && nodes.length > 1 && ans.body.includes('StandbyException')) {
          failure = this.error(op, path, ans);
          continue;
        }
        this.current = index;
        return ans;
      } catch (err) {
        if (!(err instanceof WebHdfsError) || err.code !== 'SLUICE_UPSTREAM_UNREACHABLE') throw err;
        failure = err;
      }
    }
    throw failure ?? new WebHdfsError('SLUICE_INTERNAL', 'no namenode tried');
  }

  private json<T>(ans: Answer, op: string, path: string, schema: z.ZodType<T>): T {
    if (ans.status !== 200) throw this.error(op, path, ans);
    let parsed: unknown;
    try {
      parsed = JSON.parse(ans.body.toString('utf8'));
    } catch (err) {
      throw new WebHdfsError('SLUICE_SINK_WRITE', `WebHDFS ${op} ${path}: answer is not JSON`, {
        cause: err,
      });
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      throw new WebHdfsError('SLUICE_SINK_WRITE', `WebHDFS ${op} ${path}: unexpected answer`, {
        retriable: false, // JSON of another shape: a proxy or a WebHDFS this client does not speak
        cause: result.error,
      });
    }
    return result.data;
  }

  private error(op: string, path: string, ans: Answer): WebHdfsError {
    const challenge = ans.headers['www-authenticate'];
    return answerError(
      op,
      path,
      ans.status,
      ans.headers['content-type'],
      ans.body,
      Array.isArray(challenge) ? challenge.join(', ') : challenge,
    );
  }

  /** One HTTP exchange with a whole-exchange deadline; transport failures become UNREACHABLE errors. */
  private send(
    method: string,
    url: URL,
    op: string,
    path: string,
    body?: Buffer,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<Answer> {
    const https = url.protocol === 'https:';
    const timeoutMs = this.options.requestTimeoutMs;
    return new Promise<Answer>((resolve, reject) => {
      let done = false;
      const fail = (err: unknown): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(err instanceof WebHdfsError ? err : transportError(op, path, url.host, err));
      };
      const req = (https ? httpsRequest : httpRequest)(
        url,
        {
          method,
          agent: https ? this.httpsAgent : this.httpAgent,
          headers: {
            ...headers,
            'Content-Length': String(body?.length ?? 0),
            ...(body === undefined ? {} : { 'Content-Type': 'application/octet-stream' }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES)
              req.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on('error', fail);
          res.on('close', () => {
            if (!res.complete) return fail(new Error('connection closed before the answer was complete'));
            if (done) return;
            done = true;
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
          });
        },
      );
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('error', fail);
      req.end(body);
    });
  }
}

/**
 * Only Hadoop's own FileNotFoundException (404 with RemoteException JSON) means "no such path". A real
 * NameNode that is starting answers a bare 404 from Jetty before WebHDFS is up (the emulator never did):
 * taken for "not found" it would make recovery skip a committed manifest, or take a staged file for placed.
 */
function notFound(ans: Answer): boolean {
  if (ans.status !== 404) return false;
  return ans.headers['content-type']?.includes('json') === true && ans.body.includes('FileNotFoundException');
}

/** Percent-encodes each path segment, keeping the slashes. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
