// The fleet state on disk: highest version accepted (anti-rollback), the last known good pipeline, the one
// being verified (with how many starts it has had), and the last outcome. One small JSON file, replaced
// atomically (temp file, fsync, rename, fsync dir): a SIGKILL at any moment leaves the old or the new file.
import { mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SluiceError, errorMessage } from '../errors.js';

const storedPipeline = z.object({
  version: z.number().int().positive(),
  digest: z.string(),
  config: z.record(z.string(), z.unknown()),
  at_ms: z.number(),
});

export const lastResultSchema = z.object({
  version: z.number().int().nonnegative().describe('Bundle version (0: the local file).'),
  outcome: z.enum(['applied', 'rejected', 'rolled_back']),
  reason: z
    .string()
    .optional()
    .describe('Stable reason: a RejectReason, `unhealthy`, `apply_failed`, `boot_failed`.'),
  message: z.string().optional(),
  origin: z.string().optional().describe('Where the config came from: `mqtt`, `http`, `local`, `boot`.'),
  at_ms: z.number(),
});

const stateSchema = z.object({
  format: z.literal(1),
  highest_version: z.number().int().nonnegative(),
  good: storedPipeline.nullable(),
  pending: storedPipeline.extend({ boots: z.number().int().nonnegative() }).nullable(),
  last_result: lastResultSchema.nullable(),
});

export type StoredPipeline = z.output<typeof storedPipeline>;
export type LastResult = z.output<typeof lastResultSchema>;
export type FleetState = z.output<typeof stateSchema>;

const EMPTY: FleetState = { format: 1, highest_version: 0, good: null, pending: null, last_result: null };
const FILE = 'state.json';

export class FleetStore {
  private current: FleetState;
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    state: FleetState,
    /** Set when the state file was unreadable and moved aside (reported once by the caller). */
    readonly recovered: string | undefined,
  ) {
    this.current = state;
  }

  /** Reads the state (an empty one on first start) and removes temp files of writes cut by a crash. */
  static open(dir: string): FleetStore {
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) if (name.startsWith(`.${FILE}.`)) unlinkSync(join(dir, name));
    let text: string;
    try {
      text = readFileSync(join(dir, FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new FleetStore(dir, EMPTY, undefined);
      throw new SluiceError('SLUICE_CONFIG_READ', `cannot read ${join(dir, FILE)}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const parsed = safeJson(text);
    const state = stateSchema.safeParse(parsed);
    if (state.success) return new FleetStore(dir, state.data, undefined);
    // Atomic replacement makes this a disk fault, not a crash: keep the file for a post-mortem, start over
    // from the local file rather than refuse to run at a remote site.
    const aside = join(dir, `${FILE}.corrupt-${Date.now()}`);
    renameSync(join(dir, FILE), aside);
    return new FleetStore(dir, EMPTY, aside);
  }

  get state(): Readonly<FleetState> {
    return this.current;
  }

  /** Replaces the state on disk, then in memory; writes are serialized in call order. */
  update(change: (s: FleetState) => FleetState): Promise<void> {
    const run = async (): Promise<void> => {
      const next = stateSchema.parse(change(structuredClone(this.current)));
      await writeAtomic(this.dir, FILE, `${JSON.stringify(next, null, 2)}\n`);
      this.current = next;
    };
    const p = this.writes.then(run);
    this.writes = p.catch(() => undefined); // the caller gets the error from `p`; the chain goes on
    return p;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined; // reported by the schema check that follows, which moves the file aside
  }
}

/** temp file + fsync + rename + fsync of the directory: the file is the old one or the new one, whole. */
export async function writeAtomic(dir: string, name: string, text: string): Promise<void> {
  const temp = join(dir, `.${name}.${process.pid}.tmp`);
  const fh = await open(temp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, join(dir, name));
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
