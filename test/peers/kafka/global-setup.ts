// vitest globalSetup: one real Kafka cluster for the whole run, shared by the test files that call
// sharedKafka() (they create their own topics and never stop a node; files that kill brokers start their
// own cluster). It is started only when the run includes such a file, so `vitest run test/queue` stays
// quick, and stopped at the end of the run; its JVMs die with the vitest process in any case (jvm.ts).
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT } from '../jvm.js';
import { startKafkaCluster } from './cluster.js';
import type { KafkaClusterInfo } from './info.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafka: KafkaClusterInfo | null;
  }
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'bench' ? [] : testFiles(path);
    return e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** vitest's file filters (`vitest run a b`): a file runs when its path contains one of them. */
function filters(): string[] {
  const args = process.argv.slice(2);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === 'run') continue;
    if (a.startsWith('-')) {
      if (!a.includes('=') && ['-t', '--testNamePattern', '--project', '-c', '--config'].includes(a)) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

function needed(): boolean {
  const users = testFiles(join(ROOT, 'test'))
    .filter((f) => readFileSync(f, 'utf8').includes('sharedKafka('))
    .map((f) => relative(ROOT, f));
  const wanted = filters();
  return users.length > 0 && (wanted.length === 0 || users.some((f) => wanted.some((w) => f.includes(w))));
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!needed()) {
    project.provide('kafka', null);
    return undefined;
  }
  // PROXIED listeners for kafka.test.ts's conformance suite, the one file that binds their fault proxies.
  const cluster = await startKafkaCluster({ proxied: true });
  const info: KafkaClusterInfo = {
    version: cluster.version,
    clusterId: cluster.clusterId,
    dir: cluster.dir,
    certs: cluster.certs,
    users: cluster.users,
    nodeIds: cluster.nodeIds,
    bootstrap: cluster.bootstrap,
    saslSsl: cluster.saslSsl,
    mtls: cluster.mtls,
    tlsIp: cluster.tlsIp,
    proxied: cluster.proxied,
    pids: cluster.pids,
  };
  project.provide('kafka', info);
  return () => cluster.close();
}
