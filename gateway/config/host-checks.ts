// What a valid config needs from this host, checked before anything starts or is created: the files it
// names exist and are readable as the current user, data_dir and file sink directories can be written (or
// created), and the queue fits the filesystem of data_dir. `sluice check` runs it, and `sluice run` runs it
// before the gateway opens its queue, so that `check` passing means `run` starts.
import { accessSync, constants, statSync, statfsSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { z } from 'zod';
import { configFiles, type ConfigFileInfo } from './common.js';
import { errorMessage } from '../errors.js';
import { currentUser, fileHint, probeReadable } from './files.js';
import { ConfigError, type ConfigProblem, type Locate } from './load.js';
import { configSchema, type Config } from './schema.js';

export interface HostReport {
  /** Not wrong, but worth saying (`check` prints them, `run` logs them). */
  readonly warnings: readonly string[];
}

interface Problem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** Throws ConfigError (SLUICE_CONFIG_INVALID, every problem with its line) when the host cannot run `config`. */
export function checkHost(config: Config, file: string, locate: Locate = () => undefined): HostReport {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  for (const f of configFilesOf(config)) {
    const err = probeReadable(f.file);
    if (err) {
      problems.push({
        path: f.path,
        message: `cannot read ${f.info.what} ${f.file}: ${err.message}; ${fileHint(err, f.info.missingHint)}`,
      });
    }
  }
  // A check that cannot look (a parent directory it may not search) says so at its option, like a failure.
  const guarded = (path: readonly PropertyKey[], check: () => string | undefined): boolean => {
    let message: string | undefined;
    try {
      message = check();
    } catch (err) {
      message = `cannot be checked: ${errorMessage(err)}; ${fileHint(err)}`;
    }
    if (message) problems.push({ path, message });
    return message === undefined;
  };
  const dataDir = config.gateway.data_dir;
  if (guarded(['gateway', 'data_dir'], () => writableDir(dataDir))) {
    for (const sub of ['queue', 'fleet'])
      guarded(['gateway', 'data_dir'], () => writableDir(join(dataDir, sub)));
    guarded(['queue', 'max_bytes'], () => queueSizeProblem(config, warnings));
  }
  for (const [name, sink] of Object.entries(config.sinks)) {
    if (sink.type === 'file') guarded(['sinks', name, 'path'], () => writableDir(sink.path));
  }
  if (problems.length > 0) {
    throw new ConfigError(
      file,
      problems.map((p): ConfigProblem => ({
        path: p.path.map(String).join('.'),
        line: locate(p.path),
        message: p.message,
      })),
    );
  }
  return { warnings };
}

/** queue.max_bytes against the filesystem the queue lives on (statfs of data_dir or its nearest parent). */
function queueSizeProblem(config: Config, warnings: string[]): string | undefined {
  const queueDir = join(config.gateway.data_dir, 'queue');
  const at = nearestExisting(queueDir).path;
  const fs = statfsSync(at);
  const total = fs.blocks * fs.bsize;
  const free = fs.bavail * fs.bsize;
  const max = config.queue.max_bytes;
  // What the queue already holds on disk counts as room it has (a restart of a full queue).
  const held = allocated(join(queueDir, 'data.mdb'));
  if (max > total) {
    return `${size(max)} cannot fit: the filesystem of ${at} is ${size(total)} in all (${size(free)} free); lower max_bytes below the free space, or put data_dir on a larger filesystem`;
  }
  if (max > free + held) {
    warnings.push(
      `queue.max_bytes (${size(max)}) is more than the free space of the filesystem of ${at} (${size(free)}): the disk fills before the queue does`,
    );
  }
  return undefined;
}

/** Why `dir` cannot be used as a directory to write in, or undefined: it is one, or it can be created. */
function writableDir(dir: string): string | undefined {
  const abs = resolve(dir);
  const found = nearestExisting(abs);
  const who = currentUser();
  if (!found.stat.isDirectory()) {
    return found.path === abs
      ? `${abs} is a file, not a directory`
      : `${abs} cannot be created: ${found.path} is a file, not a directory`;
  }
  const type = statfsSync(found.path).type;
  if (PSEUDO_FILESYSTEMS.has(type)) {
    return `${abs} is on ${PSEUDO_FILESYSTEMS.get(type) ?? 'a kernel filesystem'}, which holds no files of programs: choose a directory on a disk`;
  }
  try {
    accessSync(found.path, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const fix =
      code === 'EROFS'
        ? 'the filesystem is mounted read-only'
        : `give the directory to that user (chown), or choose a directory it may write`;
    return found.path === abs
      ? `${who} may not write in ${abs} (${code}): ${fix}`
      : `${abs} does not exist and ${who} may not create it in ${found.path} (${code}): ${fix}`;
  }
  return undefined;
}

/** statfs f_type of filesystems that are not storage (linux/magic.h). */
const PSEUDO_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'procfs (/proc)'],
  [0x62656572, 'sysfs (/sys)'],
  [0x63677270, 'cgroup2'],
  [0x27e0eb, 'cgroup'],
  [0x1cd1, 'devpts'],
]);

/** The path itself or its nearest ancestor that exists. */
function nearestExisting(path: string): { path: string; stat: Stats } {
  let p = resolve(path);
  for (;;) {
    try {
      return { path: p, stat: statSync(p) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a part of the path is a file; going up finds it and says so.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(p) === p) throw err;
      p = dirname(p);
    }
  }
}

/** Bytes allocated to a file (0 when it is missing): a sparse LMDB file counts what it really uses. */
function allocated(file: string): number {
  try {
    return statSync(file).blocks * 512;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${v.toFixed(1)}${units[i] ?? ''}`;
}

interface FoundFile {
  readonly path: readonly PropertyKey[];
  readonly file: string;
  readonly info: ConfigFileInfo;
}

/** Every file option set in `config`, found by walking the schema (options made with configFile()). */
export function configFilesOf(config: Config): FoundFile[] {
  const out = new Map<string, FoundFile>();
  walk(configSchema, config, [], out);
  return [...out.values()];
}

function walk(
  schema: z.core.$ZodType,
  value: unknown,
  path: PropertyKey[],
  out: Map<string, FoundFile>,
): void {
  const info = configFiles.get(schema);
  if (info) {
    if (typeof value === 'string') out.set(path.join('\0'), { path, file: value, info });
    return;
  }
  if (value === undefined || value === null) return;
  const def = schema._zod.def as z.core.$ZodTypeDef & {
    innerType?: z.core.$ZodType;
    in?: z.core.$ZodType;
  };
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      if (def.innerType) walk(def.innerType, value, path, out);
      return;
    case 'pipe':
      // Transforms here turn a value into another shape of the same leaf (sizes): file options are on `in`.
      if (def.in) walk(def.in, value, path, out);
      return;
    case 'object':
      if (!isRecord(value)) return;
      for (const [k, s] of Object.entries((def as z.core.$ZodObjectDef).shape))
        walk(s, value[k], [...path, k], out);
      return;
    case 'record':
      if (!isRecord(value)) return;
      for (const [k, v] of Object.entries(value))
        walk((def as z.core.$ZodRecordDef).valueType, v, [...path, k], out);
      return;
    case 'array':
      if (!Array.isArray(value)) return;
      value.forEach((v: unknown, i) => walk((def as z.core.$ZodArrayDef).element, v, [...path, i], out));
      return;
    case 'union':
      for (const o of (def as z.core.$ZodUnionDef).options) if (mayBe(o, value)) walk(o, value, path, out);
      return;
    default:
      return;
  }
}

/** A union member can describe `value` unless it is an object whose `type` literal differs from value.type. */
function mayBe(schema: z.core.$ZodType, value: unknown): boolean {
  const shape = (schema._zod.def as Partial<z.core.$ZodObjectDef>).shape;
  const lit = shape?.type?._zod.def as Partial<z.core.$ZodLiteralDef<string>> | undefined;
  if (!lit?.values || !isRecord(value)) return true;
  return lit.values.includes(value.type as string);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
