// Types of net.mjs (loopback ports for tests and benches).

/** A TCP port that was free a moment ago (bind to 0, read, close). */
export function freePort(host?: string): Promise<number>;

/** Resolves once something accepts TCP connections on host:port; throws after `timeoutMs` (default 10 s). */
export function waitForPort(port: number, host?: string, timeoutMs?: number): Promise<void>;
