// Types of chaos.mjs (the kill -9 rounds shared by kill9.test.ts and run.mjs).

export interface ChaosLife {
  readonly round: number;
  /** `early`: killed within 0.6 s of the listener coming up; `steady`: within 1.5 s of the first drain ack. */
  readonly phase: 'early' | 'steady';
  readonly lifeMs: number;
  /** Steady lives: readings the sink had acknowledged in this life when the wait for it ended. */
  readonly drained: number;
  /** Publishes without a PUBACK at the kill. */
  readonly inflight: number;
  /** The queue cursor's lag the gateway last reported before the kill (queued, not acknowledged by Kafka). */
  readonly lag: number;
  /** PUBACKs received so far, and since the previous kill. */
  readonly acked: number;
  readonly ackedInLife: number;
}

export interface ChaosResult {
  readonly seed: number;
  readonly lives: readonly ChaosLife[];
  readonly published: number;
  readonly seconds: number;
  /** Messages in the topic, and distinct (publisher, n) readings among them. */
  readonly messages: number;
  readonly unique: number;
  readonly acked: number;
  /** PUBACKed readings not in Kafka: must be 0. */
  readonly lost: number;
  readonly duplicates: number;
  /** Copies of one queued entry (same gateway id and content): a batch resent after a kill. */
  readonly sameEntryCopies: number;
  /** Extra queue entries of one publish: a QoS 1 retransmission stored again after its PUBACK was lost. */
  readonly restored: number;
  /** Readings in Kafka whose PUBACK never came (stored, then the gateway died). */
  readonly deliveredUnacked: number;
  /** What broke the guarantee; empty when it held. */
  readonly problems: readonly string[];
}

export const CHAOS_SINK: Readonly<Record<string, unknown>>;

export function random(seed: number): () => number;

export function runChaos(options: {
  bootstrap: readonly string[];
  topic: string;
  rounds?: number;
  clients?: number;
  window?: number;
  seed?: number;
  log?: (line: string) => void;
  sink?: Readonly<Record<string, unknown>>;
}): Promise<ChaosResult>;
