// State per device and metric for `deadband` and `downsample`, bounded: beyond `max` keys the least
// recently seen is forgotten (its next reading is judged as after a restart), so memory follows the number
// of live series up to a limit, never the stream.
import { z } from 'zod';

export class KeyedState<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}

  static key(device: string, metric: string): string {
    return `${device}\u0000${metric}`;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  /** Sets and marks as most recently seen (Map keeps insertion order: re-insert to move to the end). */
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

export const maxKeysOption = z
  .number()
  .int()
  .min(1)
  .max(10_000_000)
  .default(100_000)
  .describe(
    'Most device+metric series held in memory; beyond it the least recently seen is forgotten and its next reading passes.',
  );
