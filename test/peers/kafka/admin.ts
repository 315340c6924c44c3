// Admin operations on the Kafka peer (topics, ACLs, leaders, topic configs), over its PLAINTEXT listener
// (principal ANONYMOUS, a super user). They use KafkaJS's admin client: a JVM per call (kafka-topics.sh)
// would cost seconds each. What the tests read back goes through kcat and Kafka's own consumer instead
// (readback.ts), so the client under test never checks itself.
import kafkajs, { type Admin, type ITopicConfig } from 'kafkajs';
import { until } from '../../helpers/wait.mjs';
import type { KafkaClusterInfo } from './info.js';

const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } =
  kafkajs;
const { ConfigResourceTypes } = kafkajs;

export function adminOf(info: Pick<KafkaClusterInfo, 'bootstrap'>): Admin {
  return new Kafka({
    clientId: 'sluice-test-admin',
    brokers: [...info.bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 1_000 },
  }).admin();
}

async function withAdmin<T>(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  fn: (a: Admin) => Promise<T>,
): Promise<T> {
  const admin = adminOf(info);
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Resolves once every one of `ids` is a live broker in the cluster's metadata; `failed` ends the wait early. */
export async function waitForBrokers(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  ids: readonly number[],
  timeoutMs: number,
  failed: () => Promise<Error | undefined> | Error | undefined,
): Promise<void> {
  let live = 'no answer yet';
  await until(
    async () => {
      const brokers = await withAdmin(info, async (a) => (await a.describeCluster()).brokers);
      const up = new Set(brokers.map((b) => b.nodeId));
      live = `live brokers ${[...up].join(',') || 'none'}`;
      return ids.every((id) => up.has(id));
    },
    {
      timeoutMs,
      intervalMs: 250,
      what: `Kafka cluster: brokers ${ids.join(',')} up`,
      state: () => live,
      abort: failed,
    },
  );
}

export interface TopicOptions {
  partitions?: number;
  /** Default: 3 (or the node count when smaller). */
  replication?: number;
  /** Topic configs, e.g. { 'min.insync.replicas': '3' }. */
  config?: Readonly<Record<string, string>>;
}

/** Creates a topic and waits until every partition has a leader. */
export async function createTopic(
  info: Pick<KafkaClusterInfo, 'bootstrap' | 'nodeIds'>,
  topic: string,
  options: TopicOptions = {},
): Promise<void> {
  const spec: ITopicConfig = {
    topic,
    numPartitions: options.partitions ?? 1,
    replicationFactor: options.replication ?? Math.min(3, info.nodeIds.length),
    configEntries: Object.entries(options.config ?? {}).map(([name, value]) => ({ name, value })),
  };
  try {
    await withAdmin(info, async (a) => {
      await a.createTopics({ topics: [spec], waitForLeaders: true });
    });
  } catch (err) {
    // KafkaJS's waitForLeaders gives up when the broker it asks has not yet replayed the new topic from the
    // KRaft log (UNKNOWN_TOPIC_OR_PARTITION, seen on a loaded machine): the topic exists, so wait here.
    if (!(err instanceof Error && /does not host this topic-partition/.test(err.message))) throw err;
    await until(
      async () => {
        const leaders = await Promise.all(
          Array.from({ length: spec.numPartitions ?? 1 }, (_, p) => leaderOf(info, topic, p).catch(() => -1)),
        );
        return leaders.every((l) => l > 0);
      },
      {
        timeoutMs: 15_000,
        intervalMs: 200,
        what: `topic ${topic}: a leader for every partition`,
        state: () => `createTopics said: ${err.message}`,
      },
    );
  }
}

export async function setTopicConfig(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  topic: string,
  config: Readonly<Record<string, string>>,
): Promise<void> {
  await withAdmin(info, async (a) => {
    await a.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
        },
      ],
    });
  });
}

/** The node leading a partition (-1 when it has none), from a fresh metadata request. */
export async function leaderOf(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  topic: string,
  partition = 0,
): Promise<number> {
  return withAdmin(info, async (a) => {
    const meta = await a.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]?.partitions.find((p) => p.partitionId === partition)?.leader ?? -1;
  });
}

/** In-sync replicas of a partition. */
export async function isrOf(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  topic: string,
  partition = 0,
): Promise<number[]> {
  return withAdmin(info, async (a) => {
    const meta = await a.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]?.partitions.find((p) => p.partitionId === partition)?.isr ?? [];
  });
}

export type AclOperation = 'WRITE' | 'READ' | 'DESCRIBE' | 'CREATE' | 'IDEMPOTENT_WRITE';

export interface Acl {
  readonly principal: string;
  /** A topic name, or 'cluster' for cluster-level operations such as IDEMPOTENT_WRITE. */
  readonly resource: { topic: string } | 'cluster';
  readonly operation: AclOperation;
  readonly permission: 'ALLOW' | 'DENY';
}

/** Adds ACLs through the standard authorizer (literal resource names). */
export async function createAcls(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  acls: readonly Acl[],
): Promise<void> {
  await withAdmin(info, async (a) => {
    await a.createAcls({
      acl: acls.map((acl) => ({
        resourceType: acl.resource === 'cluster' ? AclResourceTypes.CLUSTER : AclResourceTypes.TOPIC,
        resourceName: acl.resource === 'cluster' ? 'kafka-cluster' : acl.resource.topic,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: acl.principal,
        host: '*',
        operation: AclOperationTypes[acl.operation],
        permissionType: AclPermissionTypes[acl.permission],
      })),
    });
  });
}

/** Latest offset per partition, summed: how many messages the topic holds (no compaction, no deletes here). */
export async function messageCount(
  info: Pick<KafkaClusterInfo, 'bootstrap'>,
  topic: string,
): Promise<number> {
  return withAdmin(info, async (a) => {
    const offsets = await a.fetchTopicOffsets(topic);
    return offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  });
}
