// Reads a YAML config file, validates it against the schema and freezes it. Every error names the file,
// the line, the path inside the file and what was expected, with a suggestion for misspelt keys.
import {
  LineCounter,
  parseDocument,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  visit,
  type Document,
} from 'yaml';
import { z } from 'zod';
import { SluiceError } from '../errors.js';
import { crossProblems } from './cross-checks.js';
import { migrateConfig } from './deprecations.js';
import { readConfigText } from './files.js';
import { sinks } from '../sinks/index.js';
import { sources } from '../sources/index.js';
import { configSchema, type Config } from './schema.js';

export interface ConfigProblem {
  readonly path: string;
  readonly line: number | undefined;
  readonly message: string;
}

export class ConfigError extends SluiceError {
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    const lines = problems.map(
      (p) => `  ${file}${p.line ? `:${p.line}` : ''}: ${p.path || '(top level)'}: ${p.message}`,
    );
    super('SLUICE_CONFIG_INVALID', `${file} is not a valid Sluice config:\n${lines.join('\n')}`, {
      hint: 'fix the lines above; `sluice config schema` prints every option, `sluice check FILE` re-checks',
    });
  }
}

export function loadConfigFile(file: string): Config {
  return loadConfigDocument(file).config;
}

/** The config with a way to find the line of a path in it (for checks made after validation). */
export interface LoadedConfig {
  readonly config: Config;
  readonly locate: Locate;
  /** Old option names the file still uses (accepted, moved to their new place): `check` prints them, `run` logs them. */
  readonly deprecations: readonly ConfigProblem[];
}

/** The line of a path in the config file, when it is there. */
export type Locate = (path: readonly PropertyKey[]) => number | undefined;

export function loadConfigDocument(file: string): LoadedConfig {
  const text = readConfigText(
    file,
    'config file',
    'pass an existing file with -c; deploy/config/ has examples',
  );
  return parseConfigDocument(text, file);
}

/** Parses and validates config text; `file` is only used in messages. */
export function parseConfig(text: string, file = '<config>'): Config {
  return parseConfigDocument(text, file).config;
}

/**
 * How many alias expansions a config may make: the yaml library's own default (100), passed explicitly so
 * that it cannot silently change. A hand-written config uses a few; a "billion laughs" bomb needs millions.
 */
export const MAX_ALIAS_COUNT = 100;

export function parseConfigDocument(text: string, file = '<config>'): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: '',
        line: lineCounter.linePos(e.pos[0]).line,
        message: `YAML: ${e.message.split('\n')[0] ?? ''}`,
      })),
    );
  }
  const locate: Locate = (path) => lineOf(doc, lineCounter, path);
  return { ...validate(toJS(doc, lineCounter, file), file, locate), locate };
}

/** The document as plain values; an alias bomb is a config error like any other YAML error. */
function toJS(doc: Document, lc: LineCounter, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml throws a ReferenceError ("Excessive alias count indicates a resource exhaustion attack"), with no
    // position: the first alias is where the expansion starts.
    if (!(err instanceof ReferenceError)) throw err;
    let line: number | undefined;
    visit(doc, {
      Alias(_key, node) {
        if (node.range) line = lc.linePos(node.range[0]).line;
        return visit.BREAK;
      },
    });
    throw new ConfigError(file, [
      {
        path: '',
        line,
        message: `YAML: aliases expand too much (over the yaml library's limit, maxAliasCount ${MAX_ALIAS_COUNT}): an alias bomb? Write the values out, or alias smaller nodes`,
      },
    ]);
  }
}

/**
 * Validates an already-parsed config object (remote pushes arrive as JSON) and freezes it. Old option names
 * are accepted as in a file; only `check` and `run` report them.
 */
export function validateConfig(input: unknown, file = '<config>', locate: Locate = () => undefined): Config {
  return validate(input, file, locate).config;
}

function validate(
  raw: unknown,
  file: string,
  locate: Locate,
): { config: Config; deprecations: readonly ConfigProblem[] } {
  const { value: input, deprecations, conflicts: both } = migrateConfig(raw, locate);
  const result = configSchema.safeParse(input ?? {});
  if (!result.success || both.length > 0) {
    const problems = result.success
      ? []
      : result.error.issues.flatMap((issue) => describe(issue, input, locate));
    throw new ConfigError(file, [...both, ...problems]);
  }
  // What no single option can say: names shared by a source and a sink, sinks writing the same files.
  const conflicts = crossProblems(result.data);
  if (conflicts.length > 0) {
    throw new ConfigError(
      file,
      conflicts.map((c) => ({
        path: c.path.map(String).join('.'),
        line: locate(c.path),
        message: c.message,
      })),
    );
  }
  return { config: deepFreeze(result.data), deprecations };
}

function describe(issue: z.core.$ZodIssue, input: unknown, locate: Locate): ConfigProblem[] {
  let path = issue.path;
  const at = (p: PropertyKey[]): string => p.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(path, input);
    return issue.keys.map((key) => {
      const near = closest(key, known);
      return {
        path: at([...path, key]),
        line: locate([...path, key]) ?? locate(path),
        message: `unknown option "${key}"${near ? `; did you mean "${near}"?` : ''}${known.length ? ` (known: ${known.join(', ')})` : ''}`,
      };
    });
  }
  const componentTypeIssue =
    issue.code === 'invalid_union' &&
    (path[0] === 'sources' || path[0] === 'sinks') &&
    (path.length === 2 || (path.length === 3 && path[2] === 'type'));
  if (componentTypeIssue) {
    path = path.slice(0, 2);
    const types = (path[0] === 'sources' ? sources : sinks).map((c) => c.type);
    const given = typeAt(input, path);
    return [
      {
        path: at([...path, 'type']),
        line: locate([...path, 'type']) ?? locate(path),
        message:
          given === undefined
            ? `missing "type"; one of: ${types.join(', ')}`
            : `unknown type ${JSON.stringify(given)}; one of: ${types.join(', ')}`,
      },
    ];
  }
  return [{ path: at(path), line: locate(path), message: issue.message }];
}

/** The option names the schema accepts at `path` (for "did you mean"). */
function knownKeys(path: PropertyKey[], input: unknown): string[] {
  let schema: z.core.$ZodType = configSchema;
  for (let i = 0; i <= path.length; i++) {
    schema = unwrap(schema);
    const def = schema._zod.def;
    if (i === path.length) break;
    const key = path[i];
    if (def.type === 'object') schema = (def as z.core.$ZodObjectDef).shape[String(key)] ?? schema;
    else if (def.type === 'record') schema = (def as z.core.$ZodRecordDef).valueType;
    else return [];
    const inner = unwrap(schema);
    if (inner._zod.def.type === 'union') {
      const type = typeAt(input, path.slice(0, i + 1));
      const options = (inner._zod.def as z.core.$ZodUnionDef).options;
      const match = options.find((o) => {
        const shape = (unwrap(o)._zod.def as Partial<z.core.$ZodObjectDef>).shape;
        const lit = shape?.type?._zod.def as Partial<z.core.$ZodLiteralDef<string>> | undefined;
        return lit?.values?.includes(type as string) ?? false;
      });
      if (!match) return [];
      schema = match;
    }
  }
  const def = unwrap(schema)._zod.def;
  return def.type === 'object' ? Object.keys((def as z.core.$ZodObjectDef).shape) : [];
}

function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  let cur = s;
  for (;;) {
    const def = cur._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (
      (def.type === 'default' ||
        def.type === 'prefault' ||
        def.type === 'optional' ||
        def.type === 'nullable') &&
      def.innerType
    )
      cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else return cur;
  }
}

function typeAt(input: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const k of path)
    cur = typeof cur === 'object' && cur !== null ? (cur as Record<PropertyKey, unknown>)[k] : undefined;
  return typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>).type : undefined;
}

function lineOf(doc: Document, lc: LineCounter, path: readonly PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let line: number | undefined;
  for (const key of path) {
    if (isSeq(node)) {
      // A list item: its line is where the item starts (`- type: tls`).
      const item: unknown = node.items[Number(key)];
      const range = isNode(item) ? item.range : undefined;
      if (!range) break;
      line = lc.linePos(range[0]).line;
      node = item;
      continue;
    }
    if (!isMap(node)) break;
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
    if (!pair) break;
    const range = isScalar(pair.key) ? pair.key.range : undefined;
    if (range) line = lc.linePos(range[0]).line;
    node = pair.value;
  }
  return line;
}

/** Levenshtein distance; a suggestion only when it is close (a typo, not another word). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  // Most misses drop the unit suffix (`linger` for `linger_ms`): a unique prefix match wins.
  const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(`${word.toLowerCase()}_`));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
