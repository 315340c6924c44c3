// Shared by the observe tests: a gateway with the simulator and the file sink in a temp dir, its HTTP
// endpoints on a free loopback port, and a parser for the Prometheus text format.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../gateway/config/load.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { ObserveServer } from '../../gateway/observe/http-server.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import { tempDir } from '../helpers/tmp.js';

export interface Running {
  readonly gw: Gateway;
  readonly server: ObserveServer;
  readonly dir: string;
  readonly out: string;
  stop(): Promise<void>;
}

/** Starts a gateway from YAML (`DIR` is replaced by a fresh temp dir) and its HTTP server on port 0. */
export async function startGateway(yaml: string): Promise<Running> {
  const dir = tempDir('sluice-observe-');
  const config = parseConfig(yaml.replaceAll('DIR', dir), 'test.yaml');
  const gw = await Gateway.start(config, { log: silentLogger });
  const server = await ObserveServer.start(gw, { port: 0 });
  return {
    gw,
    server,
    dir,
    out: join(dir, 'out'),
    async stop() {
      await gw.stop();
      await server.close();
    },
  };
}

export function simToFile(opts: {
  count: number;
  intervalMs?: number;
  extra?: string;
  roll?: number;
}): string {
  return `gateway:
  id: obs-gw
  data_dir: DIR/data
observe:
  history: { sample_interval_ms: 100, samples: 50 }
${opts.extra ?? ''}
sources:
  sim:
    type: simulator
    devices: 2
    interval_ms: ${opts.intervalMs ?? 5}
    count: ${opts.count}
sinks:
  local:
    type: file
    path: DIR/out
    roll_interval_ms: ${opts.roll ?? 100}
    start_from: oldest
    batch: { linger_ms: 10 }
`;
}

/** Lines written by the file sink so far. */
export function fileLines(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .reduce((n, f) => n + readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).length, 0);
}

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of one series; throws when it is missing so a renamed metric fails loudly. */
export function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const v = maybe(samples, name, labels);
  if (v === undefined) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return v;
}

/** The value of one series, or undefined before anything was counted in it. */
export function maybe(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    ?.value;
}

export async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return parseProm(await res.text());
}
