// A real Apache Kafka 4.x cluster for the integration tests: N nodes in KRaft combined mode (each node
// broker and controller, one JVM each, from the jars Maven put in .cache/peers/kafka), on free loopback
// ports, with every listener a Sluice user meets:
//   PLAINTEXT  127.0.0.1:p   no auth (principal ANONYMOUS, a super user); inter-broker traffic too
//   SASL_SSL   localhost:s   SCRAM-SHA-256 and -512 users created at format time
//   MTLS       localhost:m   TLS with client certificates required (principal = the certificate's CN)
//   TLSIP      127.0.0.1:t   TLS advertised by IP, whose certificate names only localhost: host name
//                            checks must fail there
//   PROXIED    127.0.0.1:x   PLAINTEXT advertised at a port a test's fault proxy listens on (optional)
// The standard authorizer is on: super users pass everywhere, the SCRAM user `limited` has only the ACLs a
// test gives it. Start it with startKafkaCluster(); the handle owns the JVMs (killed with the test process).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CACHE, rssBytes, spawnJvm } from '../jvm.js';
import { makeCerts, type KafkaCerts } from './certs.js';
import { freePort } from '../../helpers/net.mjs';
import { adminOf, waitForBrokers } from './admin.js';
import type { KafkaClusterInfo, ScramUser } from './info.js';

export interface KafkaClusterOptions {
  /** Nodes, each broker and controller. Default 3. */
  nodes?: number;
  /** Heap per JVM. Default 256m: three nodes fit beside the tests on 2 cores and little memory. */
  heap?: string;
  /** Reserve a PROXIED listener per node whose advertised port a fault proxy can take (see proxy.ts). */
  proxied?: boolean;
  /** Broker settings added to (or overriding) the defaults, e.g. { 'min.insync.replicas': '2' }. */
  brokerConfig?: Readonly<Record<string, string>>;
  startTimeoutMs?: number;
}

export interface KafkaCluster extends KafkaClusterInfo {
  /** SIGKILL a node's JVM (no controlled shutdown: leadership moves only when the controller notices). */
  kill(nodeId: number): Promise<void>;
  /** SIGTERM a node: controlled shutdown, leadership moves first. */
  stop(nodeId: number): Promise<void>;
  /** Starts a stopped or killed node again on its old ports and data; resolves once it serves metadata. */
  start(nodeId: number): Promise<void>;
  /** Node ids whose JVM runs. */
  running(): number[];
  /** Stops every JVM and removes the data; safe to call twice. */
  close(): Promise<void>;
}

/** The users every cluster has. `sluice` and `admin` are super users; `limited` gets only explicit ACLs. */
export const USERS: readonly ScramUser[] = [
  { name: 'admin', password: 'admin-secret' },
  { name: 'sluice', password: 'sluice-secret' },
  { name: 'limited', password: 'limited-secret' },
];

const SUPER_USERS = ['User:ANONYMOUS', 'User:admin', 'User:sluice', 'User:sluice-client'];

/** Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding (Uuid.randomUuid()). */
function clusterId(): string {
  return randomBytes(16).toString('base64url');
}

export function kafkaVersion(): string {
  const jar = readdirSync(join(CACHE, 'kafka', 'lib')).find((f) => /^kafka_2\.13-.*\.jar$/.test(f));
  return jar?.replace(/^kafka_2\.13-|\.jar$/g, '') ?? 'unknown';
}

interface Node {
  readonly id: number;
  readonly ports: {
    plaintext: number;
    controller: number;
    saslSsl: number;
    mtls: number;
    tlsIp: number;
    proxied?: { listen: number; advertised: number };
  };
  readonly dir: string;
  readonly props: string;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  output: string;
}

function log4jConfig(dir: string): string {
  const file = join(dir, 'log4j2.properties');
  // One file per node, warnings only, plus the line that says the node started (read back on failure).
  writeFileSync(
    file,
    [
      'status = error',
      'appender.file.type = File',
      'appender.file.name = file',
      'appender.file.fileName = ${sys:kafka.logs.dir}/server.log',
      'appender.file.layout.type = PatternLayout',
      'appender.file.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = WARN',
      'rootLogger.appenderRefs = file',
      'rootLogger.appenderRef.file.ref = file',
      'logger.raft.name = kafka.server.KafkaRaftServer',
      'logger.raft.level = INFO',
      '',
    ].join('\n'),
  );
  return file;
}

function nodeProps(
  node: Omit<Node, 'props' | 'child' | 'exited' | 'output'>,
  voters: string,
  certs: KafkaCerts,
  replication: number,
  extra: Readonly<Record<string, string>>,
): Record<string, string> {
  const p = node.ports;
  const listeners = [
    `PLAINTEXT://127.0.0.1:${p.plaintext}`,
    `CONTROLLER://127.0.0.1:${p.controller}`,
    `SASL_SSL://127.0.0.1:${p.saslSsl}`,
    `MTLS://127.0.0.1:${p.mtls}`,
    `TLSIP://127.0.0.1:${p.tlsIp}`,
  ];
  const advertised = [
    `PLAINTEXT://127.0.0.1:${p.plaintext}`,
    `SASL_SSL://localhost:${p.saslSsl}`,
    `MTLS://localhost:${p.mtls}`,
    `TLSIP://127.0.0.1:${p.tlsIp}`,
  ];
  const protocols = [
    'PLAINTEXT:PLAINTEXT',
    'CONTROLLER:PLAINTEXT',
    'SASL_SSL:SASL_SSL',
    'MTLS:SSL',
    'TLSIP:SSL',
  ];
  if (p.proxied) {
    listeners.push(`PROXIED://127.0.0.1:${p.proxied.listen}`);
    advertised.push(`PROXIED://127.0.0.1:${p.proxied.advertised}`);
    protocols.push('PROXIED:PLAINTEXT');
  }
  const scram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  const minIsr = String(Math.min(2, replication));
  return {
    'process.roles': 'broker,controller',
    'node.id': String(node.id),
    'controller.quorum.voters': voters,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    listeners: listeners.join(','),
    'advertised.listeners': advertised.join(','),
    'listener.security.protocol.map': protocols.join(','),
    'log.dirs': join(node.dir, 'data'),
    'num.partitions': '3',
    'default.replication.factor': String(replication),
    'min.insync.replicas': minIsr,
    'offsets.topic.replication.factor': String(replication),
    'offsets.topic.num.partitions': '3',
    'transaction.state.log.replication.factor': String(replication),
    'transaction.state.log.min.isr': minIsr,
    'share.coordinator.state.topic.replication.factor': String(replication),
    'share.coordinator.state.topic.min.isr': minIsr,
    'auto.create.topics.enable': 'false',
    'group.initial.rebalance.delay.ms': '0',
    // Notice a killed node within a few seconds, so leader moves in the fault tests take seconds, not ten.
    'broker.heartbeat.interval.ms': '500',
    'broker.session.timeout.ms': '4000',
    // Test readings carry fixed timestamps from 2023, and Kafka takes the message timestamp (CreateTime,
    // the reading's time) for retention and segment rolls: with the defaults it rolls a segment per batch
    // (segment.ms = 7 days, counted from the first message's timestamp) and its retention task deletes
    // every rolled one 30 s after start (retention.ms = 7 days). A gateway's backlog older than the
    // topic's retention meets the same fate in the field (README, Kafka sink); here both are off.
    'log.retention.ms': '-1',
    'log.roll.ms': '9223372036854775807',
    'num.network.threads': '2',
    'num.io.threads': '2',
    'num.replica.fetchers': '1',
    'log.flush.interval.messages': '9223372036854775807',
    'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512',
    'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config': scram,
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': scram,
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': certs.brokerKeystore,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': certs.caFile,
    'listener.name.mtls.ssl.client.auth': 'required',
    'ssl.principal.mapping.rules': 'RULE:^CN=([^,]+)$/$1/,DEFAULT',
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users': SUPER_USERS.join(';'),
    'allow.everyone.if.no.acl.found': 'false',
    ...extra,
  };
}

function writeProps(file: string, props: Record<string, string>): void {
  writeFileSync(
    file,
    Object.entries(props)
      .map(([k, v]) => `${k}=${v.replace(/\\/g, '\\\\')}`)
      .join('\n') + '\n',
  );
}

function scramArgs(users: readonly ScramUser[]): string[] {
  return users.flatMap((u) =>
    ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => [
      '--add-scram',
      `${m}=[name=${u.name},password=${u.password}]`,
    ]),
  );
}

/** Runs a JVM of the Kafka peer to completion and returns its output; rejects on a non-zero exit. */
function runTool(main: string, args: readonly string[], dir: string, heap = '128m'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnJvm('kafka', main, args, { heap, jvmArgs: [`-Dkafka.logs.dir=${dir}`] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${main} ${args.join(' ')} exited ${code ?? signal}:\n${out.slice(-3000)}`));
    });
  });
}

async function tail(file: string, bytes = 3000): Promise<string> {
  const text = await readFile(file, 'utf8').catch((err: Error) => `(${file}: ${err.message})`);
  return text.slice(-bytes);
}

export async function startKafkaCluster(options: KafkaClusterOptions = {}): Promise<KafkaCluster> {
  const started = Date.now();
  const count = options.nodes ?? 3;
  const heap = options.heap ?? '256m';
  const root = await mkdtemp(join(tmpdir(), 'sluice-kafka-'));
  const certs = await makeCerts(root);
  const id = clusterId();

  const skeletons: Omit<Node, 'props' | 'child' | 'exited' | 'output'>[] = [];
  for (let n = 1; n <= count; n++) {
    const dir = join(root, `node-${n}`);
    mkdirSync(dir, { recursive: true });
    skeletons.push({
      id: n,
      dir,
      ports: {
        plaintext: await freePort(),
        controller: await freePort(),
        saslSsl: await freePort(),
        mtls: await freePort(),
        tlsIp: await freePort(),
        ...(options.proxied && { proxied: { listen: await freePort(), advertised: await freePort() } }),
      },
    });
  }
  const voters = skeletons.map((s) => `${s.id}@127.0.0.1:${s.ports.controller}`).join(',');
  const replication = Math.min(3, count);
  const nodes: Node[] = skeletons.map((s) => {
    const props = join(s.dir, 'server.properties');
    writeProps(props, nodeProps(s, voters, certs, replication, options.brokerConfig ?? {}));
    log4jConfig(s.dir);
    return { ...s, props, child: undefined, exited: undefined, output: '' };
  });

  // Storage first (the cluster id, and the SCRAM credentials as bootstrap metadata records), then the nodes.
  await Promise.all(
    nodes.map((n) =>
      runTool('kafka.tools.StorageTool', ['format', '-t', id, '-c', n.props, ...scramArgs(USERS)], n.dir),
    ),
  );
  const formattedMs = Date.now() - started;

  const launch = (node: Node): void => {
    node.output = '';
    const child = spawnJvm('kafka', 'kafka.Kafka', [node.props], {
      heap,
      jvmArgs: [
        `-Dkafka.logs.dir=${node.dir}`,
        `-Dlog4j2.configurationFile=${join(node.dir, 'log4j2.properties')}`,
        '-XX:MaxDirectMemorySize=128m',
      ],
    });
    const keep = (d: Buffer): void => {
      node.output = (node.output + d.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    node.child = child;
    node.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  };

  const info: KafkaClusterInfo = {
    version: kafkaVersion(),
    clusterId: id,
    dir: root,
    certs,
    users: USERS,
    nodeIds: nodes.map((n) => n.id),
    bootstrap: nodes.map((n) => `127.0.0.1:${n.ports.plaintext}`),
    saslSsl: nodes.map((n) => `localhost:${n.ports.saslSsl}`),
    mtls: nodes.map((n) => `localhost:${n.ports.mtls}`),
    tlsIp: nodes.map((n) => `127.0.0.1:${n.ports.tlsIp}`),
    proxied: options.proxied
      ? nodes.map((n) => ({
          node: n.id,
          advertised: n.ports.proxied?.advertised ?? 0,
          target: n.ports.proxied?.listen ?? 0,
        }))
      : [],
    pids: [],
  };

  const failure = async (what: string): Promise<Error> => {
    const logs = await Promise.all(
      nodes.map(async (n) => `--- node ${n.id}\n${n.output}\n${await tail(join(n.dir, 'server.log'))}`),
    );
    return new Error(`Kafka cluster: ${what}\n${logs.join('\n')}`);
  };

  const byId = (nodeId: number): Node => {
    const node = nodes.find((n) => n.id === nodeId);
    if (!node) throw new Error(`no Kafka node ${nodeId}`);
    return node;
  };
  const isRunning = (n: Node): boolean =>
    n.child !== undefined && n.child.exitCode === null && n.child.signalCode === null;
  const halt = async (node: Node, signal: NodeJS.Signals): Promise<void> => {
    if (!isRunning(node)) return;
    node.child?.kill(signal);
    const force = setTimeout(() => node.child?.kill('SIGKILL'), 20_000);
    await node.exited;
    clearTimeout(force);
  };

  let closed = false;
  const cluster: KafkaCluster = {
    ...info,
    get pids() {
      return nodes.map((n) => n.child?.pid ?? 0);
    },
    kill: (nodeId) => halt(byId(nodeId), 'SIGKILL'),
    stop: (nodeId) => halt(byId(nodeId), 'SIGTERM'),
    start: async (nodeId) => {
      const node = byId(nodeId);
      if (isRunning(node)) return;
      launch(node);
      await waitForBrokers(cluster, [nodeId], options.startTimeoutMs ?? 60_000, () =>
        isRunning(node) ? undefined : failure(`node ${nodeId} exited while starting`),
      );
    },
    running: () => nodes.filter(isRunning).map((n) => n.id),
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.all(nodes.map((n) => halt(n, 'SIGKILL')));
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    for (const n of nodes) launch(n);
    await waitForBrokers(cluster, cluster.nodeIds, options.startTimeoutMs ?? 90_000, async () => {
      const dead = nodes.find((n) => !isRunning(n));
      return dead ? failure(`node ${dead.id} exited while starting`) : undefined;
    });
    // The group coordinator's topic, created now rather than by the first consumer (which would wait).
    const admin = adminOf(cluster);
    await admin.connect();
    await admin.disconnect();
  } catch (err) {
    const reason =
      err instanceof Error && err.message.startsWith('Kafka cluster:') ? err : await failure(String(err));
    await cluster.close();
    throw reason;
  }
  const rss = await Promise.all(nodes.map((n) => rssBytes(n.child?.pid)));
  console.info(
    `kafka ${info.version}: ${count} KRaft nodes (broker+controller, -Xmx${heap}) up in ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s (storage format ${(formattedMs / 1000).toFixed(1)} s); ` +
      `RSS ${rss.map((b) => `${Math.round((b ?? 0) / 2 ** 20)} MiB`).join(', ')}`,
  );
  return cluster;
}
