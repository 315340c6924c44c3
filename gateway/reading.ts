// The unit of data that flows source -> queue -> sink, and its stable id for downstream deduplication.

/** A reading's value: a number, a string, a boolean, or a small object (e.g. a GPS fix). */
export type ReadingValue = number | string | boolean | { readonly [key: string]: unknown };

/** One measurement as produced by a source, before it is queued. */
export interface Reading {
  /** Device that produced the reading (MQTT client id, serial device name, Modbus slave label, ...). */
  readonly device: string;
  /** What was measured, e.g. `temperature`. */
  readonly metric: string;
  readonly value: ReadingValue;
  /** Unit of `value`, e.g. `C`, `%`, `ug/m3`. */
  readonly unit?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Milliseconds since the epoch: the sensor's own timestamp if it sent one, else the receive time. */
  readonly ts: number;
  /** Name of the source component that produced it. */
  readonly source: string;
}

/** A reading as it sits in the queue: it has a sequence number, unique and increasing per gateway. */
export interface QueuedReading extends Reading {
  readonly seq: number;
  /**
   * Set only on a reading a sink-side processor made (an `aggregate` window): its own stable id, used
   * instead of `<gatewayId>:<seq>` (the seq it carries is that of an input, for the ack ledger).
   */
  readonly id?: string;
  /** When the queue accepted it (epoch ms); only on reads that ask for it (`readSized(.., withArrival)`). */
  readonly appendedAt?: number;
}

/**
 * The stable id carried upstream: `<gatewayId>:<seq>`. The same reading keeps this id on every retry
 * and after every restart, so at-least-once delivery plus dedup on this id is exactly-once downstream.
 */
export function readingId(gatewayId: string, seq: number): string {
  return `${gatewayId}:${seq}`;
}

/** The JSON shape sinks write upstream (JSON lines, Kafka JSON values): the reading plus its identity. */
export interface ReadingRecord {
  readonly id: string;
  readonly gateway: string;
  readonly seq: number;
  readonly device: string;
  readonly metric: string;
  readonly value: ReadingValue;
  readonly unit?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly ts: number;
  readonly source: string;
}

export function toRecord(gatewayId: string, r: QueuedReading): ReadingRecord {
  const rec: {
    -readonly [K in keyof ReadingRecord]: ReadingRecord[K];
  } = {
    id: r.id ?? readingId(gatewayId, r.seq),
    gateway: gatewayId,
    seq: r.seq,
    device: r.device,
    metric: r.metric,
    value: r.value,
    ts: r.ts,
    source: r.source,
  };
  if (r.unit !== undefined) rec.unit = r.unit;
  if (r.tags !== undefined) rec.tags = r.tags;
  return rec;
}
