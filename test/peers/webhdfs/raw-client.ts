// A deliberately thin WebHDFS caller for tests of the emulator: plain fetch, redirects never followed, every
// status and header left for the test to assert. Not a client to copy into the sink.

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
  /** The RemoteException object of an error answer. */
  remote(): { exception: string; javaClassName: string; message: string | null };
  json(): unknown;
}

export interface CallOptions {
  method?: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';
  /** user.name; null sends none. Default "alice". */
  user?: string | null;
  params?: Record<string, string>;
  body?: Buffer | string;
  headers?: Record<string, string>;
}

export function webhdfsUrl(base: string, path: string, op: string | null, options: CallOptions = {}): string {
  const url = new URL(`${base}/webhdfs/v1${path}`);
  if (op !== null) url.searchParams.set('op', op);
  const user = options.user === undefined ? 'alice' : options.user;
  if (user !== null) url.searchParams.set('user.name', user);
  for (const [k, v] of Object.entries(options.params ?? {})) url.searchParams.set(k, v);
  return url.toString();
}

export async function send(url: string, options: CallOptions = {}): Promise<Reply> {
  const res = await fetch(url, {
    method: options.method ?? 'GET',
    redirect: 'manual',
    headers: options.headers,
    body: options.body,
  });
  return reply(res);
}

export async function reply(res: Response): Promise<Reply> {
  const body = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body,
    json: () => JSON.parse(body) as unknown,
    remote: () => (JSON.parse(body) as { RemoteException: ReturnType<Reply['remote']> }).RemoteException,
  };
}

export function call(
  base: string,
  path: string,
  op: string | null,
  options: CallOptions = {},
): Promise<Reply> {
  return send(webhdfsUrl(base, path, op, options), options);
}

/** Step 1 at the namenode (no data), step 2 with the data at the Location it names. */
export async function twoStep(
  base: string,
  path: string,
  op: 'CREATE' | 'APPEND',
  data: Buffer | string,
  options: CallOptions = {},
): Promise<{ first: Reply; second: Reply | undefined }> {
  const method = op === 'CREATE' ? 'PUT' : 'POST';
  const first = await call(base, path, op, { ...options, method, body: undefined });
  const location = first.headers.get('location');
  if (first.status !== 307 || location === null) return { first, second: undefined };
  const second = await send(location, { method, body: data, headers: options.headers });
  return { first, second };
}
