// Options that moved: a config written with the old name still loads. Before validation each old option is
// moved to its new place and reported (`sluice check` prints the list, `run` logs it once); giving the old
// and the new name together is an error naming both. The loaded config has the new shape only.
type Path = readonly PropertyKey[];

/** An old option's place in the file and what to say about it (load.ts's MovedOption has this shape). */
export interface MovedOption {
  readonly path: string;
  readonly line: number | undefined;
  readonly message: string;
}

interface Move {
  /** The old option, in the object found by `where`. */
  readonly from: string;
  /** Its new place, from the same object. */
  readonly to: readonly string[];
}

/** The flat TLS files of the MQTT clients, now the shared `tls:` group (config/tls.ts). */
const FLAT_TLS: readonly Move[] = ['ca_file', 'cert_file', 'key_file'].map((k) => ({
  from: k,
  to: ['tls', k],
}));

/** Where moved options may be: each entry finds the objects that may hold them, in the raw config. */
const MOVED: readonly { readonly where: (config: unknown) => Path[]; readonly moves: readonly Move[] }[] = [
  { where: (c) => componentsOfType(c, 'sources', 'mqtt'), moves: FLAT_TLS },
  { where: (c) => (isObject(child(c, ['fleet', 'mqtt'])) ? [['fleet', 'mqtt']] : []), moves: FLAT_TLS },
];

export interface Migrated {
  /** The input with every old option moved (a copy when anything moved; the input is never changed). */
  readonly value: unknown;
  /** One per old option found: `sources.x.ca_file` is deprecated: move it to `sources.x.tls.ca_file`. */
  readonly deprecations: readonly MovedOption[];
  /** Old and new given together. */
  readonly conflicts: readonly MovedOption[];
}

export function migrateConfig(input: unknown, locate: (path: Path) => number | undefined): Migrated {
  const found = MOVED.flatMap(({ where, moves }) =>
    where(input).flatMap((at) =>
      moves.filter((m) => child(input, [...at, m.from]) !== undefined).map((m) => ({ at, move: m })),
    ),
  );
  if (found.length === 0) return { value: input, deprecations: [], conflicts: [] };
  const value = structuredClone(input);
  const deprecations: MovedOption[] = [];
  const conflicts: MovedOption[] = [];
  for (const { at, move } of found) {
    const from = [...at, move.from];
    const to = [...at, ...move.to];
    const problem = (message: string): MovedOption => ({ path: dotted(from), line: locate(from), message });
    const holder = child(value, at) as Record<string, unknown>;
    if (child(value, to) !== undefined) {
      // Dropped from the copy, so that the schema's problems (if any) are about the new place only.
      delete holder[move.from];
      conflicts.push(
        problem(`\`${dotted(from)}\` and \`${dotted(to)}\` are both given: keep \`${dotted(to)}\` only`),
      );
      continue;
    }
    const parent = ensureObject(value, to.slice(0, -1));
    // A new-place parent that is not an object (`tls: 5`) is left to the schema to report; the old option stays.
    if (parent === undefined) continue;
    parent[String(to[to.length - 1])] = holder[move.from];
    delete holder[move.from];
    deprecations.push(problem(`\`${dotted(from)}\` is deprecated: move it to \`${dotted(to)}\``));
  }
  return { value, deprecations, conflicts };
}

/** `sources.<name>` of each source (or sink) of `type`. */
function componentsOfType(config: unknown, section: string, type: string): Path[] {
  const all = child(config, [section]);
  if (!isObject(all)) return [];
  return Object.entries(all)
    .filter(([, c]) => isObject(c) && c.type === type)
    .map(([name]) => [section, name]);
}

function child(value: unknown, path: Path): unknown {
  let cur = value;
  for (const k of path) cur = isObject(cur) ? cur[String(k)] : undefined;
  return cur;
}

/** The object at `path`, created where missing; undefined when something on the way is not an object. */
function ensureObject(value: unknown, path: Path): Record<string, unknown> | undefined {
  if (!isObject(value)) return undefined;
  let cur = value;
  for (const k of path) {
    const key = String(k);
    if (cur[key] === undefined) cur[key] = {};
    const next = cur[key];
    if (!isObject(next)) return undefined;
    cur = next;
  }
  return cur;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function dotted(path: Path): string {
  return path.map(String).join('.');
}
