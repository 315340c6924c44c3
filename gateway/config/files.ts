// Files a config names (TLS certificates and keys, password files, the config itself): read, or checked
// before anything starts, with one error shape that names the option, the path, the cause and what to do
// about that cause (a missing file is created, an unreadable one is given to the right user).
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { SluiceError, errorMessage } from '../errors.js';

/**
 * Reads a file named by a config option; `what` names it for the operator (`TLS certificate`, ...),
 * `missingHint` says how to make it when it does not exist (other causes get the hint of their errno).
 */
export function readConfigFile(file: string, what: string, missingHint?: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SluiceError('SLUICE_CONFIG_READ', `cannot read ${what} ${file}: ${errorMessage(err)}`, {
      hint: fileHint(err, missingHint),
      cause: err,
    });
  }
}

export function readConfigText(file: string, what: string, missingHint?: string): string {
  return readConfigFile(file, what, missingHint).toString('utf8');
}

/**
 * Whether this process could read `file` now, without reading it: opened and closed (so permissions, ACLs
 * and mount options all count, as the current user), and a regular file. The error, or undefined.
 */
export function probeReadable(file: string): NodeJS.ErrnoException | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    if (fstatSync(fd).isDirectory()) return errnoError('EISDIR', `EISDIR: illegal operation on a directory`);
    return undefined;
  } catch (err) {
    return err as NodeJS.ErrnoException;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** What to do about a failed read or write of a file the config names, by errno. */
export function fileHint(err: unknown, missingHint?: string): string {
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
      return missingHint ?? 'check the path in the config (a relative path is from the working directory)';
    case 'EACCES':
    case 'EPERM':
      return `${currentUser()} may not read it: make it readable by that user or its group (chown, chmod), or run sluice as the user meant to`;
    case 'EISDIR':
      return 'the path names a directory: point the option at the file';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory: check the path in the config';
    case 'ELOOP':
      return 'the path is a loop of symbolic links: point the option at the file itself';
    default:
      return 'check the path in the config and that the sluice user may read it';
  }
}

/** `user sluice (uid 998)`, for hints about permissions. */
export function currentUser(): string {
  const uid = process.getuid?.();
  try {
    return `user ${userInfo().username}${uid === undefined ? '' : ` (uid ${uid})`}`;
  } catch (err) {
    // No passwd entry (a container started with --user N): the uid alone.
    return uid === undefined ? `this user (${errorMessage(err)})` : `uid ${uid}`;
  }
}

function errnoError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}
