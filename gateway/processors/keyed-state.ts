// State per device and metric for `deadband` and `downsample`, bounded: beyond `max` keys the least
// recently seen is forgotten (its next reading is judged as after a restart), so memory follows the number
// of live series up to a limit, never the stream. A lookup allocates nothing (no `device + metric` key
// string per reading): a map per device, and the recency order as a linked list through the entries.
import { z } from 'zod';

interface Entry<V> {
  readonly device: string;
  readonly metric: string;
  value: V;
  prev: Entry<V> | undefined;
  next: Entry<V> | undefined;
}

export class KeyedState<V> {
  private readonly byDevice = new Map<string, Map<string, Entry<V>>>();
  /** Least recently seen first. */
  private oldest: Entry<V> | undefined;
  private newest: Entry<V> | undefined;
  private count = 0;

  constructor(private readonly max: number) {}

  get(device: string, metric: string): V | undefined {
    return this.byDevice.get(device)?.get(metric)?.value;
  }

  /** Sets and marks as most recently seen; beyond `max` series the least recently seen is forgotten. */
  set(device: string, metric: string, value: V): void {
    let metrics = this.byDevice.get(device);
    if (!metrics) {
      metrics = new Map();
      this.byDevice.set(device, metrics);
    }
    const e = metrics.get(metric);
    if (e) {
      e.value = value;
      this.unlink(e);
      this.append(e);
      return;
    }
    const entry: Entry<V> = { device, metric, value, prev: undefined, next: undefined };
    metrics.set(metric, entry);
    this.append(entry);
    this.count++;
    if (this.count > this.max && this.oldest) this.forget(this.oldest);
  }

  clear(): void {
    this.byDevice.clear();
    this.oldest = undefined;
    this.newest = undefined;
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }

  private forget(e: Entry<V>): void {
    this.unlink(e);
    this.count--;
    const metrics = this.byDevice.get(e.device);
    metrics?.delete(e.metric);
    if (metrics?.size === 0) this.byDevice.delete(e.device);
  }

  private append(e: Entry<V>): void {
    e.prev = this.newest;
    e.next = undefined;
    if (this.newest) this.newest.next = e;
    else this.oldest = e;
    this.newest = e;
  }

  private unlink(e: Entry<V>): void {
    if (e.prev) e.prev.next = e.next;
    else this.oldest = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.newest = e.prev;
    e.prev = undefined;
    e.next = undefined;
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
