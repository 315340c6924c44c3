// Exactly-once files. A generation becomes final through a manifest in the sink's state directory: written
// under a temporary name, then renamed (the commit point), then its staged files are renamed to their final
// names. The newest manifest is also the high-water mark of what is delivered. Recovery finishes a generation
// whose manifest is there and throws away everything staged without one. Every temporary name is unique per
// attempt, so a request of an abandoned attempt that lands late (timed out, or sent by a killed process)
// can only touch that attempt's own files.
import type { Logger } from 'pino';
import { z } from 'zod';
import { WebHdfsError } from './classify.js';
import { basename, dirname, stateNames } from './paths.js';
import type { WebHdfsClient } from './client.js';
import { forEachLimit } from './writer.js';

const fileSchema = z.strictObject({
  staged: z.string(),
  final: z.string(),
  bytes: z.number().int().nonnegative(),
  count: z.number().int().positive(),
  first: z.number().int().positive(),
  last: z.number().int().positive(),
});

const manifestSchema = z.strictObject({
  version: z.literal(1),
  gateway: z.string(),
  sink: z.string(),
  first: z.number().int().positive(),
  last: z.number().int().positive(),
  staging: z.string(),
  files: z.array(fileSchema).min(1),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestFile = z.infer<typeof fileSchema>;

const PARALLEL_RENAMES = 4;
const KNOWN_DIRS_MAX = 10_000;

export class Committer {
  /** Final directories made in this process, so MKDIRS runs once per directory. */
  private readonly knownDirs = new Set<string>();
  /** Path of the newest committed manifest: deleted once the next one is complete. */
  private newest: string | undefined;

  constructor(
    private readonly client: WebHdfsClient,
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  /** Makes a fully uploaded generation final. Once the manifest rename succeeded, recovery completes it. */
  async commit(m: Manifest, nonce: string): Promise<void> {
    const sizes = await this.stagedSizes(m.staging);
    for (const f of m.files) {
      const got = sizes?.get(basename(f.staged));
      if (got !== f.bytes) {
        throw new WebHdfsError(
          'SLUICE_SINK_WRITE',
          `staged file ${f.staged} holds ${got ?? 'no'} bytes, ${f.bytes} were acknowledged; writing the generation again`,
        );
      }
    }
    const json = Buffer.from(JSON.stringify(m));
    const temp = `${this.root}/${stateNames.manifestTemp(m.first, nonce)}`;
    await this.client.create(temp, json, { overwrite: false });
    const written = await this.client.status(temp);
    if (written?.length !== json.length) {
      throw new WebHdfsError('SLUICE_SINK_WRITE', `manifest ${temp} is incomplete`);
    }
    const path = `${this.root}/${stateNames.manifest(m.first, m.last)}`;
    if (!(await this.client.rename(temp, path))) {
      throw new WebHdfsError('SLUICE_SINK_WRITE', `could not rename ${temp} to ${path}`);
    }
    await forEachLimit(m.files, PARALLEL_RENAMES, (f) => this.place(f));
    await this.client.delete(m.staging, true);
    await this.retire(path);
  }

  /**
   * Brings the state directory to a clean state and returns the delivered high-water mark. Temporary
   * manifests go first: after that no late rename can commit a generation, so the listing that follows is
   * final. Only the newest manifest can be incomplete (a generation commits after the previous one is done).
   */
  async recover(): Promise<number> {
    await this.client.mkdirs(this.root);
    let listing = (await this.client.list(this.root)) ?? [];
    const temps = listing.filter((s) => stateNames.isManifestTemp(s.pathSuffix));
    if (temps.length > 0) {
      for (const t of temps) await this.client.delete(`${this.root}/${t.pathSuffix}`, false);
      listing = (await this.client.list(this.root)) ?? [];
    }
    const commits = listing
      .flatMap((s) => {
        const range = stateNames.parseManifest(s.pathSuffix);
        return range ? [{ ...range, path: `${this.root}/${s.pathSuffix}` }] : [];
      })
      .sort((a, b) => a.last - b.last);
    const newest = commits[commits.length - 1];
    this.newest = undefined;
    if (newest !== undefined) {
      const m = parseManifest(await this.client.open(newest.path), newest.path);
      await this.finish(m);
      this.newest = newest.path;
      for (const old of commits.slice(0, -1)) await this.client.delete(old.path, false);
    }
    const staging = (await this.client.list(`${this.root}/staging`)) ?? [];
    for (const s of staging) await this.client.delete(`${this.root}/staging/${s.pathSuffix}`, true);
    if (staging.length > 0 || temps.length > 0) {
      this.log.info(
        { abandoned_attempts: staging.length, temp_manifests: temps.length },
        'removed uncommitted files; their readings are written again',
      );
    }
    return newest?.last ?? 0;
  }

  /** Renames what is still staged of a committed generation; a staging directory gone means it is done. */
  private async finish(m: Manifest): Promise<void> {
    const sizes = await this.stagedSizes(m.staging);
    if (sizes === undefined) return;
    const left = m.files.filter((f) => sizes.has(basename(f.staged)));
    for (const f of left) {
      if (sizes.get(basename(f.staged)) !== f.bytes) {
        throw new WebHdfsError(
          'SLUICE_SINK_WRITE',
          `staged file ${f.staged} of committed generation ${m.first}-${m.last} changed size`,
          // Not retriable: a committed generation does not change back by itself; an operator must look.
          { retriable: false, hint: 'something else writes in the state directory; check state_dir' },
        );
      }
    }
    await forEachLimit(left, PARALLEL_RENAMES, (f) => this.place(f));
    await this.client.delete(m.staging, true);
    if (left.length > 0) {
      this.log.info(
        { first: m.first, last: m.last, files: left.length },
        'completed a generation committed before a crash',
      );
    }
  }

  /** staged -> final. A false RENAME is looked into: already moved is fine, a clash is not. */
  private async place(f: ManifestFile): Promise<void> {
    const dir = dirname(f.final);
    if (!this.knownDirs.has(dir)) {
      await this.client.mkdirs(dir);
      if (this.knownDirs.size >= KNOWN_DIRS_MAX) this.knownDirs.clear();
      this.knownDirs.add(dir);
    }
    if (await this.client.rename(f.staged, f.final)) return;
    // Moved by an earlier attempt whose answer was lost: staged names are never reused.
    if ((await this.client.status(f.staged)) === undefined) return;
    if ((await this.client.status(f.final)) !== undefined) {
      throw new WebHdfsError('SLUICE_SINK_WRITE', `${f.final} exists already`, {
        retriable: false, // a name taken by another writer stays taken: only an operator can separate them
        hint: 'another writer uses the same names: give each gateway its own id and each hdfs sink its own path or prefix',
      });
    }
    // The directory was removed under us: make it again, once.
    this.knownDirs.delete(dir);
    await this.client.mkdirs(dir);
    if (!(await this.client.rename(f.staged, f.final))) {
      throw new WebHdfsError('SLUICE_SINK_WRITE', `could not rename ${f.staged} to ${f.final}`);
    }
  }

  private async retire(path: string): Promise<void> {
    const previous = this.newest;
    this.newest = path;
    if (previous !== undefined && previous !== path) await this.client.delete(previous, false);
  }

  private async stagedSizes(dir: string): Promise<Map<string, number> | undefined> {
    const listed = await this.client.list(dir);
    return listed && new Map(listed.map((s) => [s.pathSuffix, s.length]));
  }
}

function parseManifest(bytes: Buffer, path: string): Manifest {
  try {
    return manifestSchema.parse(JSON.parse(bytes.toString('utf8')));
  } catch (err) {
    throw new WebHdfsError('SLUICE_SINK_WRITE', `manifest ${path} is unreadable`, {
      retriable: false, // reading it again yields the same bytes: an operator must restore or remove it
      hint: 'restore or remove it by hand, knowing its files may then be written twice',
      cause: err,
    });
  }
}
