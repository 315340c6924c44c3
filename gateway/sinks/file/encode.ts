// What the file sink writes: one JSON line per reading, the reading record every sink writes (toRecord).
import { toRecord, type QueuedReading } from '../../reading.js';

/** File extension of the sink's files, without the dot. */
export const EXT = 'jsonl';

export function line(gatewayId: string, r: QueuedReading): string {
  return `${JSON.stringify(toRecord(gatewayId, r))}\n`;
}
