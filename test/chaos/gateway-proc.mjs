// The real gateway as a child process, the way it runs on a device: `node dist/gateway/cli/main.js run -c FILE`
// with an `mqtt_broker` source and a `kafka` sink, its log appended to a file. For the chaos test (SIGKILL and
// restart on the same data dir), the soak (RSS and open fds from /proc) and the end-to-end bench (CPU time).
// Plain JavaScript (typed by gateway-proc.d.mts) so the .mjs runners and the vitest test share it.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitForPort } from '../helpers/net.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'dist', 'gateway', 'cli', 'main.js');

/** The config a test gateway runs: JSON is YAML, so it is written as JSON. */
export function gatewayConfig({ id, dataDir, mqttPort, httpPort, brokers, topic, source = {}, sink = {} }) {
  return {
    gateway: { id, data_dir: dataDir },
    log: { level: 'warn' },
    observe: { http: { port: httpPort } },
    sources: {
      devices: {
        type: 'mqtt_broker',
        listeners: [{ type: 'tcp', host: '127.0.0.1', port: mqttPort, allow_anonymous: true }],
        topics: [{ topic: 'sensors/{device}/{metric}', decoder: 'json' }],
        ...source,
      },
    },
    sinks: { kafka: { type: 'kafka', brokers, topic, start_from: 'oldest', ...sink } },
  };
}

/**
 * Starts the gateway on `config` (gatewayConfig()) and resolves once its MQTT listener accepts connections.
 * `dir` holds the config file and `gateway.log`; the data dir is the config's.
 */
export async function startGateway(config, dir, { readyTimeoutMs = 60_000 } = {}) {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  const file = join(dir, 'sluice.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const logFile = join(dir, 'gateway.log');
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [MAIN, 'run', '-c', file], { stdio: ['ignore', log, log] });
  closeSync(log);
  let killedByUs = false;
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, killedByUs })),
  );
  const tail = () => readFileSync(logFile, 'utf8').slice(-3000);
  const port = config.sources.devices.listeners[0].port;
  const died = exited.then(({ code, signal }) => {
    throw new Error(`the gateway exited (${code ?? signal}) before it listened on ${port}:\n${tail()}`);
  });
  died.catch(() => undefined); // only raced while starting
  try {
    await Promise.race([waitForPort(port, '127.0.0.1', readyTimeoutMs), died]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const httpPort = config.observe.http.port;
  return {
    pid: child.pid,
    /** Resolves when the process has exited: { code, signal, killedByUs }. */
    exited,
    tail,
    /** SIGKILL: no shutdown, no flush. Resolves once the process is gone. */
    async kill9() {
      killedByUs = true;
      child.kill('SIGKILL');
      return exited;
    },
    /** SIGTERM: graceful stop (sources stop, sinks flush). */
    async stop(timeoutMs = 30_000) {
      killedByUs = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
    /** A gauge of GET /metrics without labels (e.g. `nodejs_heap_size_used_bytes`), NaN when absent. */
    async gauge(name) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
      if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(await res.text());
      return m ? Number(m[1]) : NaN;
    },
    /** GET /api/status (sources, sinks, queue cursors). */
    async status() {
      const res = await fetch(`http://127.0.0.1:${httpPort}/api/status`, {
        signal: AbortSignal.timeout(5_000),
      });
      if (!res.ok) throw new Error(`GET /api/status: ${res.status}`);
      return res.json();
    },
  };
}

/** Resident set size, anonymous RSS (heap, buffers: without the queue's file pages) in bytes, open fds. */
export function procMemory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), rssAnon: kb('RssAnon'), fds: readdirSync(`/proc/${pid}/fd`).length };
}
