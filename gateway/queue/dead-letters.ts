// The queue's dead letters: readings a sink gave up on, parked per cursor with the code and message of why
// (and the entry itself, so that `sluice queue dead-letters` can show it after the queue has trimmed it).
import type { Database } from 'lmdb';
import type { Reading } from '../reading.js';
import { decodeEntry } from './codec.js';
import type { DeadLetterInput } from './ops.js';

export interface StoredDeadLetter extends DeadLetterInput {
  readonly cursor: string;
  readonly at: number;
  readonly reading: Reading | null;
}

/** A stored dead letter: keyed `[cursor, seq]`, so that a cursor's letters are one range, oldest first. */
interface Stored {
  readonly code: string;
  readonly message: string;
  readonly at: number;
  readonly entry: Uint8Array | null;
}

export type DeadLetterTable = Database<unknown, [string, number]>;

/** Parks one dead letter (inside the write transaction of the ack that gives up on it). */
export function parkDeadLetter(
  table: DeadLetterTable,
  cursor: string,
  d: DeadLetterInput,
  at: number,
  entry: Uint8Array | undefined,
): void {
  const stored: Stored = { code: d.code, message: d.message, at, entry: entry ?? null };
  table.putSync([cursor, d.seq], stored);
}

/** Dead letters parked for a cursor, oldest first. */
export function readDeadLetters(table: DeadLetterTable, cursor: string, limit: number): StoredDeadLetter[] {
  const out: StoredDeadLetter[] = [];
  for (const { key, value } of table.getRange({
    start: [cursor, 0],
    end: [cursor, Number.MAX_SAFE_INTEGER],
    limit,
  })) {
    const v = value as Stored;
    out.push({
      cursor,
      seq: key[1],
      code: v.code,
      message: v.message,
      at: v.at,
      reading: v.entry ? decodeEntry(v.entry, key[1]).reading : null,
    });
  }
  return out;
}
