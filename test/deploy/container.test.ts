// The container recipe cannot be built here (no Docker engine on this machine, and hadolint is not packaged
// for Debian 12), so it is linted: the Dockerfile has the instructions a safe multi-arch image needs, and
// the compose example mounts config and data, publishes the status port on loopback only and passes a
// serial device; its config file is a valid Sluice config.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { parse } from 'yaml';
import { loadConfigFile } from '../../gateway/config/load.js';

const at = (p: string): string => fileURLToPath(new URL(`../../deploy/${p}`, import.meta.url));

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Dockerfile instructions, with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l);
      if (!m) throw new Error(`not a Dockerfile instruction: ${l}`);
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
}

test('the Dockerfile builds in a stage, runs unprivileged, checks health and stops gracefully', () => {
  const ins = instructions(readFileSync(at('Dockerfile'), 'utf8'));
  const ops = ins.map((i) => i.op);
  const froms = ins.filter((i) => i.op === 'FROM');
  expect(froms).toHaveLength(2);
  for (const f of froms) {
    expect(f.args).toMatch(/^node:\$\{NODE_VERSION\}-bookworm-slim/); // multi-arch official base
    expect(f.args).not.toMatch(/:latest/);
  }
  expect(ins.find((i) => i.op === 'ARG')?.args).toMatch(/^NODE_VERSION=\d+\.\d+\.\d+$/); // pinned
  expect(ins.some((i) => i.op === 'RUN' && i.args.includes('npm ci'))).toBe(true);
  expect(ins.some((i) => i.op === 'RUN' && i.args.includes('npm prune --omit=dev'))).toBe(true);
  expect(ins.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build'))).toBe(true);
  // USER comes after the last RUN, and is not root.
  const user = ops.lastIndexOf('USER');
  expect(user).toBeGreaterThan(ops.lastIndexOf('RUN'));
  expect(ins[user]!.args).not.toMatch(/^(root|0)\b/);
  expect(ins.find((i) => i.op === 'HEALTHCHECK')?.args).toContain('/healthz');
  expect(ins.find((i) => i.op === 'STOPSIGNAL')?.args).toBe('SIGTERM');
  // Exec form, so SIGTERM reaches node and the graceful shutdown runs.
  expect(ins.find((i) => i.op === 'ENTRYPOINT')?.args).toMatch(/^\["node", /);
  expect(ins.find((i) => i.op === 'VOLUME')?.args).toContain('/var/lib/sluice');
  expect(ops).not.toContain('ADD');
});

test('the compose example wires config, data, ports and a serial device', () => {
  const compose = parse(readFileSync(at('compose.yaml'), 'utf8')) as {
    services: Record<string, Record<string, unknown>>;
    volumes: Record<string, unknown>;
  };
  const s = compose.services.sluice!;
  expect(s.build).toMatchObject({ context: '..', dockerfile: 'deploy/Dockerfile' });
  expect(s.restart).toBe('unless-stopped');
  expect(s.volumes).toEqual(
    expect.arrayContaining([
      './compose/sluice.yaml:/etc/sluice/sluice.yaml:ro',
      'sluice-data:/var/lib/sluice',
    ]),
  );
  expect(s.ports).toContain('127.0.0.1:9464:9464');
  expect(s.devices).toEqual([expect.stringMatching(/^\/dev\/tty/)]);
  expect(s.group_add).toContain('dialout');
  expect(compose.volumes).toHaveProperty('sluice-data');
  const config = loadConfigFile(at('compose/sluice.yaml'));
  expect(config.observe.http).toMatchObject({ listen: '0.0.0.0', port: 9464 });
  expect(config.gateway.data_dir).toBe('/var/lib/sluice');
});
