// Keeps the queue's own commits possible on a full disk. LMDB copies every page it changes, so even an ack
// that frees space first needs free pages; at ENOSPC its commits fail (EIO after a short write) and nothing
// can be freed any more. So the queue keeps a reserve of allocated space at the end of its file, which LMDB
// then grows into without asking the file system, and refuses appends before they would eat into it. And
// what a failed commit means: a full disk as such, anything else as IO.
import { closeSync, fstatSync, openSync, statfsSync, writeSync } from 'node:fs';
import type { Database, RootDatabase } from 'lmdb';
import { SluiceError, errorMessage, isSluiceError } from '../errors.js';
import { endNativeStderrLine } from '../observe/log.js';

/** Pages of LMDB's file, read inside a write transaction. */
interface LmdbPages {
  readonly pageSize: number;
  /** Committed last page number + 1: where LMDB allocates new pages once its free list is used up. */
  readonly endPage: number;
  /** Pages held by the trees (entries, meta, dead letters, main, free list) and the two meta pages. */
  usedPages(): number;
}

/** LMDB's page counts of the environment and its databases, for `DiskGuard.check` (inside the write transaction). */
export function lmdbPages(root: RootDatabase, dbs: readonly Pick<Database, 'getStats'>[]): LmdbPages {
  interface TreeStat {
    readonly pageSize: number;
    readonly treeBranchPageCount: number;
    readonly treeLeafPageCount: number;
    readonly overflowPages: number;
  }
  const pagesOf = (t: TreeStat): number => t.treeBranchPageCount + t.treeLeafPageCount + t.overflowPages;
  const stats = root.getStats() as TreeStat & { lastPageNumber: number; free: TreeStat };
  return {
    pageSize: stats.pageSize,
    endPage: stats.lastPageNumber + 1,
    // Only on a tight disk: three more calls into LMDB.
    usedPages: () => {
      let used = 2 + pagesOf(stats) + pagesOf(stats.free); // two meta pages, main tree, free list
      for (const db of dbs) used += pagesOf(db.getStats() as TreeStat);
      return used;
    },
  };
}

interface DiskRoom {
  /** Bytes appends may still use (file system free space and free pages in the file, minus the reserve). */
  readonly appendable: number;
  /** Free bytes of the file system, for the error message. */
  readonly fsFree: number;
  /** Less than PLENTY free: appends go only into space allocated beforehand. */
  readonly tight: boolean;
}

/** Appends measure the room exactly only when the file system has less than this beyond the reserve. */
const PLENTY = 64 * 1024 * 1024;
const ZEROS = Buffer.alloc(256 * 1024);

export class DiskGuard {
  private fd: number | undefined;
  /** Why the last top-up stopped short (ENOSPC, a quota), for the log of a refusal. */
  lastTopUpError: string | undefined;

  constructor(
    private readonly file: string,
    private readonly dir: string,
    readonly reserveBytes: number,
  ) {}

  /**
   * Tops the reserve up and returns the room left for appends (`roundNeed`: what this round's appends
   * need). Must run inside a write transaction: LMDB writes no page meanwhile, and the zeros go only past
   * the end of the file, where LMDB has written nothing (pages past its committed end are never read
   * before they are written).
   */
  check(pages: () => LmdbPages, roundNeed: number): DiskRoom {
    const fsFree = freeBytes(this.dir);
    const p = pages();
    const end = p.endPage * p.pageSize;
    let size = fstatSync(this.fd ?? this.openFile()).size;
    let fsAfter = fsFree;
    const plenty = fsFree > this.reserveBytes + roundNeed + PLENTY;
    // On a tight disk, this round's appends get their space allocated before LMDB writes them, so that
    // another program filling the disk meanwhile cannot fail the commit. Growing twice the reserve at a
    // time otherwise: a top-up every reserveBytes of growth, not at every commit.
    const target = end + this.reserveBytes + (plenty ? this.reserveBytes : roundNeed);
    if (this.reserveBytes > 0 && size < end + this.reserveBytes + (plenty ? 0 : roundNeed)) {
      size = this.extend(size, target);
      fsAfter = freeBytes(this.dir);
    }
    if (plenty) return { appendable: fsAfter - this.reserveBytes, fsFree: fsAfter, tight: false };
    // Free pages inside the file (the free list, and the reserve past LMDB's end) take appends too.
    const inFile = Math.max(0, Math.floor(size / p.pageSize) - p.usedPages()) * p.pageSize;
    // No reserve (tests): appends stop only when the file system is full, leaving commits to fail there.
    const appendable = this.reserveBytes > 0 ? inFile - this.reserveBytes : fsAfter;
    return { appendable: Math.max(0, appendable), fsFree: fsAfter, tight: true };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private openFile(): number {
    this.fd = openSync(this.file, 'r+');
    return this.fd;
  }

  /** Writes zeros from `size` up to `target` (real blocks, not a hole); returns the new size. */
  private extend(size: number, target: number): number {
    const fd = this.fd ?? this.openFile();
    let at = size;
    try {
      while (at < target) {
        const n = writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, target - at), at);
        if (n <= 0) break;
        at += n;
      }
      this.lastTopUpError = undefined;
    } catch (err) {
      // ENOSPC or a quota: keep what was written; the room left shows in what check() returns.
      this.lastTopUpError = errorMessage(err);
    }
    return Math.max(size, fstatSync(fd).size);
  }
}

function freeBytes(dir: string): number {
  const st = statfsSync(dir);
  return st.bavail * st.bsize;
}

/** Whether an error from LMDB or the file system means that the disk (or a quota) is full. */
function isDiskFull(err: unknown, dir: string, reserveBytes: number): boolean {
  const text = err instanceof Error ? `${err.message} ${String((err as NodeJS.ErrnoException).code)}` : '';
  if (/ENOSPC|EDQUOT|No space left|quota exceeded/i.test(text)) return true;
  // LMDB turns a short write (the disk filled up in the middle of it) into EIO, and lmdb-js's write thread
  // reports "Commit failed": call that a full disk when the file system has (almost) nothing free.
  if (!/Input\/output error|EIO|Commit failed/i.test(text)) return false;
  try {
    return freeBytes(dir) <= Math.max(reserveBytes, 1024 * 1024);
  } catch {
    return false; // cannot tell: report the error as it came
  }
}

/**
 * What a failed commit tells its callers: a full disk as such (not LMDB's EIO), anything else as IO.
 * `inCommit`: the error came from LMDB's commit (page writes, sync), not from the ops before it.
 */
export function commitFailure(
  err: unknown,
  inCommit: boolean,
  dir: string,
  reserveBytes: number,
): SluiceError {
  if (isSluiceError(err)) return err;
  // lmdb-js's write thread also rejects a promise of its own with the cause; nobody else awaits it, and
  // an unhandled rejection would end the process.
  const commitError = (err as { commitError?: unknown } | null)?.commitError;
  if (commitError instanceof Promise) {
    commitError.catch((cause: unknown) => {
      if (printedUnterminated(cause)) endNativeStderrLine();
    });
  }
  // A page write of the commit failed: LMDB printed "Write error: ..." to stderr with no newline. (A
  // failed page spill during the ops prints a newline after it; ending the line then would add an empty one.)
  if (inCommit && printedUnterminated(err)) endNativeStderrLine();
  const detail = err instanceof Error ? err.message : String(err);
  if (isDiskFull(err, dir, reserveBytes)) {
    return new SluiceError(
      'SLUICE_QUEUE_FULL',
      `the disk holding the queue (${dir}) is full: a commit failed (${detail})`,
      {
        hint: 'free space on the file system of gateway.data_dir (or let the sinks catch up); the write is retried by its source',
        cause: err,
      },
    );
  }
  return new SluiceError('SLUICE_QUEUE_IO', `the queue could not commit: ${detail}`, {
    hint: 'check free disk space and the data directory permissions; the write will be retried by its source',
    cause: err,
  });
}

/** Whether LMDB printed a message for this error to stderr with no newline (mdb.c: mdb_page_flush, mdb_txn_commit). */
function printedUnterminated(err: unknown): boolean {
  return err instanceof Error && /Attempting to write page|Transaction must abort/.test(err.message);
}
