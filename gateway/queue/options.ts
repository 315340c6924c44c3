// The queue's options: the `queue:` section of the config file (a zod schema, the single source of its types,
// defaults and the config reference texts), and what `Queue.open` takes beyond it.
import { z } from 'zod';
import { byteSize } from '../config/common.js';

/**
 * Above this the queue's LMDB map (2.5 x max_bytes, see store.ts) no longer fits the address
 * space: measured on x86-64 Linux, 25 TB maps opened and 75 TB ones died with SIGSEGV at start. 8 TiB
 * leaves a margin.
 */
const MAX_QUEUE_BYTES = 8 * 1024 ** 4;

export const queueSchema = z
  .strictObject({
    max_bytes: byteSize
      .refine((n) => n <= MAX_QUEUE_BYTES, {
        message: `at most 8TiB: LMDB maps 2.5 times max_bytes of address space, and more crashes it`,
      })
      .default(1024 ** 3)
      .describe(
        'Most encoded reading bytes kept on disk (at most 8TiB). `sluice check` and `run` compare it with the size of the filesystem of data_dir.',
      ),
    on_full: z
      .enum(['drop_oldest', 'reject_new'])
      .default('drop_oldest')
      .describe(
        'When max_bytes is reached: drop the oldest readings (counted), or refuse new ones (back-pressure).',
      ),
    // Why two ways: an inline commit has no thread hand-offs (the lowest latency when an fsync takes well
    // under a millisecond); the write thread lets the event loop go on while a slow disk syncs. Why a
    // median of 5 ms: an SD card's fsync takes more, an SSD's or eMMC's less, and the wait is wall time,
    // which a CPU the load saturates inflates too.
    commit_mode: z
      .enum(['auto', 'inline', 'background'])
      .default('auto')
      .describe(
        "Where a commit waits for its fsync: `inline` on the event loop (lowest latency on fast disks), `background` in LMDB's write thread (the loop works on meanwhile; slow disks such as SD cards), `auto` inline while that wait (median of the last 32 commits) is at most 5 ms, else background for a minute and measured again. Durable either way.",
      ),
    // Why a linger at all: at a field load (many devices, a message each per socket read) a commit holds
    // few readings, and each commit costs its fsync, its meta page and a wake-up of the sinks whatever it
    // holds. PostgreSQL's commit_delay and MySQL's binlog_group_commit_sync_delay trade the same way. Why at
    // most 20 ms: beyond it the wait dominates a PUBACK's latency and gathers little more.
    commit_delay_ms: z
      .number()
      .int()
      .min(0)
      .max(20)
      .default(0)
      .describe(
        'Commit linger: a write (an append, an ack) waits up to this long (0..20 ms, counted from its arrival) for more writes to join its commit, so that more readings share one fsync: fewer commits, less CPU and disk wear per reading, for up to this much more acknowledgement latency. Writes that already waited that long (through a slow commit) commit at once. Nothing is acknowledged before its commit is on disk either way. 0: commit at once (each commit takes what arrived during the previous one).',
      ),
  })
  .prefault({})
  .describe('The store-and-forward queue on local disk.');

type QueueConfig = z.output<typeof queueSchema>;
export type OnFull = QueueConfig['on_full'];
/** Where a group commit waits for the disk (see `commit_mode` above); `auto` resolves to one of the two. */
export type CommitMode = QueueConfig['commit_mode'];

/** What `Queue.open` takes: the config section's limits under their camelCase names, and the process's own. */
export interface QueueOptions {
  readonly dir: string;
  /** Upper bound of the encoded readings held, in bytes (the LMDB file adds B-tree overhead on top). */
  readonly maxBytes: QueueConfig['max_bytes'];
  readonly onFull: OnFull;
  /** Default `auto`. */
  readonly commitMode?: CommitMode;
  /** How long a commit waits for more ops to join it (`commit_delay_ms`); default 0, commit at once. */
  readonly commitDelayMs?: number;
  /** `auto`: how long commits stay in the background after slow inline fsyncs (default a minute). */
  readonly backgroundHoldMs?: number;
  /** Benchmarks only: skip fsync. The ceiling a durable queue is measured against; never for real data. */
  readonly noSync?: boolean;
  /** Open without writing (for `sluice queue stats` beside a running gateway). */
  readonly readOnly?: boolean;
  /**
   * First sequence number of a queue created now (ignored when the store exists). The gateway passes
   * `newQueueFirstSeq()`, so that a gateway whose data directory was wiped never re-uses an id.
   */
  readonly firstSeq?: number;
  /**
   * Disk space kept allocated at the end of the queue's file for its own commits (acks, trims), so that they
   * go on when the disk is full; appends are refused before they would eat into it. Default 1 MiB; tests
   * pass 0 to provoke commits that fail for want of space.
   */
  readonly reserveBytes?: number;
}

/** The limits a config push changes in place (see `Queue.setLimits`). */
export type QueueLimits = Pick<QueueOptions, 'maxBytes' | 'onFull' | 'commitMode' | 'commitDelayMs'>;
