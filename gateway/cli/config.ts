// `sluice check FILE` (validate and explain) and `sluice config schema` (JSON Schema for editors).
import { checkHost } from '../config/host-checks.js';
import { loadConfigDocument } from '../config/load.js';
import { jsonSchema } from '../config/schema.js';
import { currentUser } from '../config/files.js';
import { SluiceError } from '../errors.js';
import { parse, type Command } from './args.js';
import { processorLabel } from '../processors/chain.js';
import type { ProcessorConfig } from '../processors/index.js';

export const checkCommand: Command = {
  name: 'check',
  usage: 'FILE [--json] [--schema-only]',
  summary: 'Validate a config file and explain what it sets up.',
  help: [
    'Exit code 0 when valid, 2 with every problem (file:line: path: message) when not.',
    'Also checks this host as the current user, as `sluice run` does before it starts: the files the config',
    'names are readable, data_dir and file sink directories writable, the queue fits its filesystem.',
    '  --json          print the config with all defaults applied, as JSON',
    '  --schema-only   check the file alone (CI, or a config meant for another machine)',
  ].join('\n'),
  run(args) {
    const { values, positionals } = parse(
      args,
      { json: { type: 'boolean' }, 'schema-only': { type: 'boolean' } },
      'sluice check FILE [--json] [--schema-only]',
    );
    const file = positionals[0];
    if (!file)
      throw new SluiceError('SLUICE_USAGE', 'check needs a config file', {
        hint: 'sluice check deploy/config/demo.yaml',
      });
    const { config, locate, deprecations } = loadConfigDocument(file);
    const host = values['schema-only'] ? undefined : checkHost(config, file, locate);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
      return Promise.resolve(0);
    }
    const lines = [
      `${file}: valid`,
      `  gateway ${config.gateway.id}, data in ${config.gateway.data_dir}`,
      `  queue: up to ${config.queue.max_bytes} bytes, when full: ${config.queue.on_full}`,
      ...Object.entries(config.sources).map(([n, s]) => `  source ${n} (${s.type})${chain(s.processors)}`),
      ...Object.entries(config.sinks).map(
        ([n, s]) =>
          `  sink ${n} (${s.type}), new cursor starts at ${s.start_from}, batches of up to ${s.batch.max_count}${chain(s.processors)}`,
      ),
    ];
    if (Object.keys(config.sinks).length === 0)
      lines.push('  warning: no sinks: readings will stay in the queue until max_bytes');
    for (const d of deprecations) lines.push(`  warning: ${file}${d.line ? `:${d.line}` : ''}: ${d.message}`);
    for (const w of host?.warnings ?? []) lines.push(`  warning: ${w}`);
    lines.push(
      host
        ? `  host: files readable and directories writable as ${currentUser()}${process.getuid?.() === 0 ? '; root reads everything: `sudo -u sluice sluice check FILE` checks as the service user' : ''}`
        : '  host: not checked (--schema-only)',
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    return Promise.resolve(0);
  },
};

export const configSchemaCommand: Command = {
  name: 'config schema',
  usage: '',
  summary: 'Print the JSON Schema of the config file (for editors and CI).',
  run() {
    process.stdout.write(`${JSON.stringify(jsonSchema(), null, 2)}\n`);
    return Promise.resolve(0);
  },
};

/** `, processors: 1-filter -> temp-deadband`, or nothing for a component without processors. */
function chain(processors: readonly ProcessorConfig[]): string {
  return processors.length === 0 ? '' : `, processors: ${processors.map(processorLabel).join(' -> ')}`;
}
