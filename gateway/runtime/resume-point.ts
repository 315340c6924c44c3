// The highest seq a sink with a windowing processor has committed upstream, kept in a small file next to
// the queue: after a crash, windows rebuilt from a partly acked queue at or below it are not sent again.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SluiceError } from '../errors.js';

export class ResumePoint {
  private constructor(
    private readonly file: string,
    private value: number,
  ) {}

  /** Reads `<dir>/<sink>.json`; a missing file is 0 (nothing committed yet). */
  static async load(dir: string, sink: string): Promise<ResumePoint> {
    const file = join(dir, `${encodeURIComponent(sink)}.json`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new ResumePoint(file, 0);
      throw err;
    }
    let committed: unknown;
    try {
      committed = (JSON.parse(text) as { committed?: unknown } | null)?.committed;
    } catch (err) {
      committed = err; // not JSON: refused below as damaged, like any other content
    }
    if (typeof committed !== 'number' || !Number.isSafeInteger(committed) || committed < 0) {
      throw new SluiceError('SLUICE_QUEUE_IO', `${file} holds no committed sequence`, {
        retriable: false,
        hint: 'the file is damaged: remove it (windows sent before the last crash may be sent again, possibly partial)',
      });
    }
    return new ResumePoint(file, committed);
  }

  get committed(): number {
    return this.value;
  }

  /**
   * Raises it to `seq`, durably (written, synced, renamed, directory synced) before the caller acks the
   * queue: a crash between the two leaves this ahead of the cursor, which is safe (see sink-runner.ts).
   */
  async raise(seq: number): Promise<void> {
    if (seq <= this.value) return;
    const dir = dirname(this.file);
    await mkdir(dir, { recursive: true });
    const tmp = `${this.file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(`${JSON.stringify({ committed: seq })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    this.value = seq;
  }
}
