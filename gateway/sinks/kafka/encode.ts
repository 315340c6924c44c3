// Readings to Kafka messages: the value (the toRecord shape as JSON or CBOR), the key, and the headers that
// let a consumer deduplicate by (gateway id, sequence) without decoding the value.
import { Encoder } from 'cbor-x';
import type { IHeaders, Message } from 'kafkajs';
import { toRecord, type QueuedReading } from '../../reading.js';

export type ValueFormat = 'json' | 'cbor';

export const CONTENT_TYPES: Record<ValueFormat, string> = {
  json: 'application/json',
  cbor: 'application/cbor',
};

/** Header names, stable: consumers key their deduplication on the first two. */
export const HEADERS = {
  gateway: 'sluice-gateway',
  seq: 'sluice-seq',
  source: 'sluice-source',
  contentType: 'content-type',
} as const;

// Plain CBOR maps (RFC 8949), readable by any CBOR decoder: cbor-x records are a cbor-x-only extension.
const cbor = new Encoder({ useRecords: false });

/**
 * The reading record (toRecord, the one JSON form of a reading) as JSON or CBOR. JSON stays a string: KafkaJS
 * writes it into the request buffer directly, saving a copy per message.
 */
export function encodeValue(format: ValueFormat, gatewayId: string, r: QueuedReading): Buffer | string {
  const record = toRecord(gatewayId, r);
  return format === 'cbor' ? cbor.encode(record) : JSON.stringify(record);
}

export interface Encoded {
  readonly message: Message;
  /** Bytes of key, value and headers: what counts against Kafka's message size limits (before compression). */
  readonly bytes: number;
}

/** Fixed per-record overhead in a Kafka record batch (attributes, varint lengths, offsets), roughly. */
const RECORD_OVERHEAD = 24;

export function toMessage(
  format: ValueFormat,
  gatewayId: string,
  r: QueuedReading,
  key: string | null,
): Encoded {
  const value = encodeValue(format, gatewayId, r);
  const seq = String(r.seq);
  // Literal keys (the HEADERS names): V8 builds this object from a template, computed keys take a slow path.
  const headers: IHeaders = {
    'sluice-gateway': gatewayId,
    'sluice-seq': seq,
    'sluice-source': r.source,
    'content-type': CONTENT_TYPES[format],
  };
  let bytes =
    (typeof value === 'string' ? Buffer.byteLength(value) : value.length) +
    RECORD_OVERHEAD +
    (key === null ? 0 : Buffer.byteLength(key));
  bytes += gatewayId.length + seq.length + Buffer.byteLength(r.source) + CONTENT_TYPES[format].length + 64;
  // The sensor's own time as CreateTime: downstream windows by when it was measured, not when it was sent.
  return { message: { key, value, headers, timestamp: String(r.ts) }, bytes };
}
