// Loopback ports for tests and benches: one that is free, and a wait until something listens on one.
// Plain JavaScript (typed by net.d.mts) so that the benches, which run under bare node, share it.
import { connect, createServer } from 'node:net';
import { until } from './wait.mjs';

/** A TCP port that was free a moment ago (bind to 0, read, close). */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error(`no port from listen(0) on ${host}`)),
      );
    });
  });
}

/** One connection attempt: resolves on connect, rejects with the socket's error (kept as the last one seen). */
function tryConnect(port, host) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', reject);
  });
}

/** Resolves once something accepts TCP connections on host:port. */
export async function waitForPort(port, host = '127.0.0.1', timeoutMs = 10_000) {
  await until(() => tryConnect(port, host), {
    timeoutMs,
    intervalMs: 50,
    what: `a listener on ${host}:${port}`,
  });
}
