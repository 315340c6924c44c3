// `sluice fleet keygen` (an Ed25519 operator key pair) and `sluice fleet sign` (a pipeline file -> bundle).
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parse, type Command } from '../args.js';
import { PIPELINE_KEYS, pipelineSchema } from '../../config/bootstrap.js';
import { componentName } from '../../config/common.js';
import { SluiceError, errorMessage } from '../../errors.js';
import { loadPrivateKey, signBundle } from '../../fleet/bundle.js';

export const fleetKeygenCommand: Command = {
  name: 'fleet keygen',
  usage: '--out DIR [--key-id ID]',
  summary: 'Create an Ed25519 operator key pair for signing bundles.',
  help: 'Writes DIR/ID.key (private, mode 0600: keep it off the gateways) and DIR/ID.pub (give it to the\ngateways in fleet.trusted_keys). ID defaults to "ops".',
  run(args) {
    const usage = 'sluice fleet keygen --out DIR [--key-id ID]';
    const { values } = parse(args, { out: { type: 'string' }, 'key-id': { type: 'string' } }, usage);
    if (!values.out) throw new SluiceError('SLUICE_USAGE', '--out is required', { hint: usage });
    const id = componentName.safeParse(values['key-id'] ?? 'ops');
    if (!id.success) throw new SluiceError('SLUICE_USAGE', '--key-id: letters, digits, `_`, `.`, `-`');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    mkdirSync(values.out, { recursive: true });
    const priv = join(values.out, `${id.data}.key`);
    const pub = join(values.out, `${id.data}.pub`);
    writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }), { flag: 'wx' });
    process.stdout.write(
      `wrote ${priv} (private: signs bundles) and ${pub} (public)\n` +
        `add to each gateway's local file:\nfleet:\n  trusted_keys:\n    - id: ${id.data}\n      public_key_file: ${pub}\n`,
    );
    return Promise.resolve(0);
  },
};

export const fleetSignCommand: Command = {
  name: 'fleet sign',
  usage:
    '--key FILE --version N (--gateway ID | --label L)... [--key-id ID] [--expires-in-ms MS] [--note TEXT] [-o OUT] PIPELINE.yaml',
  summary: 'Sign a pipeline config (queue, log, sources, sinks) into a bundle for gateways or labels.',
  help: `PIPELINE.yaml holds only ${PIPELINE_KEYS.join(', ')}; each key it has replaces the gateway's local one.
  --gateway ID   target a gateway (repeatable); --label L: gateways holding every given label
  --version N    must be above every version the gateways applied before
  --expires-in-ms MS   default 7 days
Prints the bundle JSON (or writes it to -o OUT).`,
  run(args) {
    const usage = 'sluice fleet sign --key FILE --version N --gateway ID|--label L PIPELINE.yaml';
    const { values, positionals } = parse(
      args,
      {
        key: { type: 'string' },
        'key-id': { type: 'string' },
        version: { type: 'string' },
        gateway: { type: 'string', multiple: true },
        label: { type: 'string', multiple: true },
        'expires-in-ms': { type: 'string' },
        note: { type: 'string' },
        out: { type: 'string', short: 'o' },
      },
      usage,
    );
    const file = positionals[0];
    if (!values.key || !values.version || !file)
      throw new SluiceError('SLUICE_USAGE', '--key, --version and PIPELINE.yaml are required', {
        hint: usage,
      });
    const version = Number(values.version);
    const expiresIn = Number(values['expires-in-ms'] ?? 7 * 86_400_000);
    if (!Number.isSafeInteger(version) || version < 1 || !Number.isSafeInteger(expiresIn))
      throw new SluiceError('SLUICE_USAGE', '--version and --expires-in-ms take positive integers');
    let config: unknown;
    try {
      config = parseYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      throw new SluiceError('SLUICE_CONFIG_READ', `cannot read ${file}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    // The gateway validates the merged config again; this catches mistakes before anything is signed.
    const checked = pipelineSchema.partial().safeParse(config);
    if (!checked.success)
      throw new SluiceError('SLUICE_CONFIG_INVALID', `${file}: ${z.prettifyError(checked.error)}`, {
        hint: `a bundle carries only ${PIPELINE_KEYS.join(', ')}`,
      });
    const now = Date.now();
    const text = signBundle(
      {
        version,
        issued_at_ms: now,
        expires_at_ms: now + expiresIn,
        target: { gateways: values.gateway ?? [], labels: values.label ?? [] },
        config: config as Record<string, unknown>,
        ...(values.note !== undefined ? { note: values.note } : {}),
      },
      loadPrivateKey(values.key),
      values['key-id'] ?? 'ops',
    );
    if (values.out) writeFileSync(values.out, `${text}\n`);
    else process.stdout.write(`${text}\n`);
    return Promise.resolve(0);
  },
};
