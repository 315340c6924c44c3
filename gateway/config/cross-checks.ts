// Rules that span options, so no single schema can state them: names unique across sources and sinks, and no
// two sinks writing the same files. Run by validateConfig, so by `check`, at start and on every push.
import { resolve } from 'node:path';
import type { Config, SinkConfig } from './schema.js';

export interface CrossProblem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

export function crossProblems(config: Config): CrossProblem[] {
  const problems: CrossProblem[] = [];
  for (const name of Object.keys(config.sinks)) {
    if (name in config.sources) {
      problems.push({
        path: ['sinks', name],
        message: `"${name}" also names a source: names are unique across sources and sinks (they name the component in health, metrics and logs)`,
      });
    }
  }
  const seen: Array<{ name: string; out: Output }> = [];
  for (const [name, sink] of Object.entries(config.sinks)) {
    const out = outputOf(sink, config.gateway.id);
    if (!out) continue;
    const other = seen.find((s) => clash(s.out, out));
    if (other) {
      problems.push({
        path: ['sinks', name, 'path'],
        message: `writes the same files as sink "${other.name}" (${out.where}, file names ${out.names}* and ${other.out.names}*): the two would rename and remove each other's files; give each sink its own path or prefix`,
      });
    }
    seen.push({ name, out });
  }
  return problems;
}

/** Where a sink's files go: a place (local directory, or cluster and directory template) and their names. */
interface Output {
  readonly places: readonly string[];
  readonly where: string;
  /** The start of every file name the sink writes, removes or renames there. */
  readonly names: string;
}

function outputOf(sink: SinkConfig, gatewayId: string): Output | undefined {
  switch (sink.type) {
    case 'file': {
      const dir = resolve(sink.path);
      // sinks/ranged-names.ts: final `<prefix>-<gateway>-<first>-<last>.jsonl`, temporary `.<prefix>-<gateway>-<first>...`.
      return { places: [dir], where: `directory ${dir}`, names: `${sink.prefix}-${gatewayId}-` };
    }
    case 'hdfs':
      // The same directory template on a namenode of the same cluster: the same HDFS files.
      return {
        places: sink.namenodes.map((n) => `${n.replace(/\/+$/, '')} ${sink.path}`),
        where: `HDFS ${sink.path}`,
        names: `${sink.prefix}-${gatewayId}-`,
      };
    default:
      return undefined;
  }
}

function clash(a: Output, b: Output): boolean {
  const samePlace = a.places.some((p) => b.places.includes(p));
  return samePlace && (a.names.startsWith(b.names) || b.names.startsWith(a.names));
}
