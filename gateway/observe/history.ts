// A fixed-size ring of samples (queue depth, bytes, per-sink lag) taken on a timer, so the status page can
// draw the last hour without a time-series database: 360 samples x 10 s by default.
import type { Queue } from '../queue/queue.js';

export interface Sample {
  /** Epoch ms. */
  readonly t: number;
  readonly depth: number;
  readonly bytes: number;
  readonly lag: Readonly<Record<string, number>>;
}

export class History {
  private readonly ring: Sample[] = [];
  private next = 0;

  constructor(readonly capacity: number) {}

  push(sample: Sample): void {
    if (this.ring.length < this.capacity) this.ring.push(sample);
    else this.ring[this.next] = sample;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Oldest first. */
  samples(): Sample[] {
    if (this.ring.length < this.capacity) return [...this.ring];
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}

export function sampleQueue(queue: Queue, now = Date.now()): Sample {
  const s = queue.stats();
  return {
    t: now,
    depth: s.depth,
    bytes: s.bytes,
    lag: Object.fromEntries(s.cursors.map((c) => [c.name, c.lag])),
  };
}
