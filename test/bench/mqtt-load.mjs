// What write-amp.mjs and pi-profile.mjs share: a gateway child (ingest-child.mjs) started under an optional
// wrapper (taskset, strace's fsync delay) and Node flags, and an MQTT.js QoS 1 load against it, either as fast
// as a window of messages in flight allows or paced at a rate. Not a bench itself.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { freePort, waitForPort } from '../helpers/net.mjs';

const childScript = fileURLToPath(new URL('./ingest-child.mjs', import.meta.url));

/**
 * strace arguments that delay every fdatasync of a process tree by `ms` (as test/queue/commit-mode.test.ts
 * does): a disk whose syncs take that long. LMDB's second sync, the O_DSYNC write of the meta page, is not
 * delayed, so a commit waits about `ms`, where an SD card would make it wait for both.
 */
export function slowFsync(ms) {
  return [
    'strace',
    '--seccomp-bpf',
    '-f',
    '-qq',
    '-o',
    '/dev/null',
    '-e',
    'trace=fdatasync',
    '-e',
    `inject=fdatasync:delay_exit=${ms * 1000}`,
  ];
}

/**
 * Starts ingest-child.mjs: `wrap` is a command line prefix (e.g. ['taskset', '-c', '0']), `nodeFlags` Node's
 * own flags, `args` the child's options. Resolves once the MQTT listener answers. `pid` is the node process
 * (the wrapper's child when wrapped), found through the child's own IPC message.
 */
export async function startGateway({ wrap = [], nodeFlags = [], args = [], dir } = {}) {
  const port = await freePort();
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'sluice-bench-gw-'));
  const cmd = [
    ...wrap,
    process.execPath,
    ...nodeFlags,
    childScript,
    '--port',
    String(port),
    '--dir',
    dataDir,
    ...args,
  ];
  const t0 = performance.now();
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await Promise.race([
    waitForPort(port, '127.0.0.1', 60_000),
    exited.then((code) => {
      throw new Error(`gateway child exited ${code} before listening`);
    }),
  ]);
  const listenMs = performance.now() - t0;
  const pid = await new Promise((resolve) => {
    const onMessage = (m) => {
      if (m && typeof m === 'object' && 'stats' in m) {
        child.off('message', onMessage);
        resolve(m.pid);
      }
    };
    child.on('message', onMessage);
    child.send('stats');
  });
  return {
    port,
    pid,
    dir: dataDir,
    listenMs,
    /** The queue's stats and the sinks' status, from inside the gateway. */
    stats() {
      return new Promise((resolve) => {
        const onMessage = (m) => {
          if (!m || typeof m !== 'object' || !('stats' in m)) return;
          child.off('message', onMessage);
          resolve(m);
        };
        child.on('message', onMessage);
        child.send('stats');
      });
    },
    async stop({ keepDir = false } = {}) {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      if (!keepDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * QoS 1 publishers against `port` for `measureMs` after `warmupMs`. `window`: messages in flight per client
 * (as fast as PUBACKs come back); or `ratePerClient`: one message every 1/rate s per client, each awaited.
 * `onWindow(phase)` is called with 'start' and 'end' around the measured window (for /proc readings).
 */
export async function mqttLoad({ port, clients, window = 1, ratePerClient, warmupMs, measureMs, onWindow }) {
  const conns = await Promise.all(
    Array.from({ length: clients }, (_, i) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `load-${i}`, reconnectPeriod: 0 }),
    ),
  );
  const latencies = [];
  let acked = 0;
  let measuring = false;
  let running = true;
  let value = 0;
  const pumps = conns.map(
    (client, i) =>
      new Promise((resolve, reject) => {
        let inflight = 0;
        const send = () => {
          if (!running) {
            if (inflight === 0) resolve();
            return;
          }
          inflight++;
          const t0 = performance.now();
          const counted = measuring;
          client.publish(`sensors/dev${i}/temp`, String(value++ % 1000), { qos: 1 }, (err) => {
            inflight--;
            if (err) return reject(err);
            if (counted && measuring) {
              acked++;
              latencies.push(performance.now() - t0);
            }
            if (ratePerClient) setTimeout(send, Math.max(0, 1000 / ratePerClient - (performance.now() - t0)));
            else send();
          });
        };
        // Paced clients start spread over one interval, so that they do not publish in lockstep.
        if (ratePerClient) setTimeout(send, (i / clients) * (1000 / ratePerClient));
        else for (let w = 0; w < window; w++) send();
      }),
  );
  await new Promise((r) => setTimeout(r, warmupMs));
  await onWindow?.('start');
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, measureMs));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  await onWindow?.('end');
  running = false;
  await Promise.all(pumps);
  await Promise.all(conns.map((c) => c.endAsync()));
  latencies.sort((a, b) => a - b);
  const pct = (p) =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { acked, seconds, rate: acked / seconds, p50: pct(50), p99: pct(99) };
}
