// Tests that run dist/ (the Kafka producer thread, the crash tests' child gateways) refuse stale output rather
// than pass on old code: every source file of the sink folder, and the sink modules it shares, must be older
// than its build.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Throws unless dist/ holds a build newer than each `.ts` in `gateway/sinks/<folder>/` and ranged-names.ts. */
export function assertBuilt(folder: 'kafka' | 'hdfs' | 'file'): void {
  const sources = [
    ...readdirSync(`${root}gateway/sinks/${folder}`)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `${folder}/${f}`),
    'ranged-names.ts',
    'index.ts',
  ];
  for (const f of sources) {
    const src = statSync(`${root}gateway/sinks/${f}`).mtimeMs;
    const out =
      statSync(`${root}dist/gateway/sinks/${f.replace(/\.ts$/, '.js')}`, { throwIfNoEntry: false })
        ?.mtimeMs ?? 0;
    if (out < src) throw new Error(`dist/ is older than gateway/sinks/${f}: run \`npm run build\` first`);
  }
}
