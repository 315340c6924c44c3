// `sluice serial list`: the serial ports this machine has, with the stable /dev/serial/by-id path to put in
// a `serial` source's `path`, for field setup (which adapter is which).
import { readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { errorMessage, toSluiceError } from '../errors.js';
import { parse } from './args.js';
import type { Command } from './commands.js';

export interface ListedPort {
  /** Kernel name, e.g. /dev/ttyUSB0: may name another adapter after a replug. */
  readonly path: string;
  /** Stable links to the same device (udev's /dev/serial/by-id): what a config should use. */
  readonly byId: readonly string[];
  readonly manufacturer?: string;
  readonly serialNumber?: string;
  readonly vendorId?: string;
  readonly productId?: string;
}

/** Device node (resolved) -> the by-id links naming it; empty when the directory does not exist. */
export function byIdLinks(dir = '/dev/serial/by-id'): Map<string, string[]> {
  const links = new Map<string, string[]>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    // No USB serial adapter (or no udev): the directory is simply absent.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return links;
    throw err;
  }
  for (const name of names.sort()) {
    const link = join(dir, name);
    let target: string;
    try {
      target = realpathSync(link);
    } catch (err) {
      // A link whose device just went away: show it under its own name, so it is not silently missing.
      target = `${link} (dangling: ${errorMessage(err)})`;
    }
    links.set(target, [...(links.get(target) ?? []), link]);
  }
  return links;
}

export async function listPorts(byIdDir?: string): Promise<ListedPort[]> {
  let ports: Awaited<ReturnType<typeof SerialPort.list>>;
  try {
    ports = await SerialPort.list();
  } catch (err) {
    throw toSluiceError(err, 'SLUICE_SOURCE_IO', 'cannot list serial ports', true);
  }
  const links = byIdLinks(byIdDir);
  const listed: ListedPort[] = ports.map((p) => {
    const byId = links.get(p.path) ?? [];
    links.delete(p.path);
    return {
      path: p.path,
      byId,
      ...(p.manufacturer !== undefined && { manufacturer: p.manufacturer }),
      ...(p.serialNumber !== undefined && { serialNumber: p.serialNumber }),
      ...(p.vendorId !== undefined && { vendorId: p.vendorId }),
      ...(p.productId !== undefined && { productId: p.productId }),
    };
  });
  // Links udev made for devices serialport's listing did not report (e.g. listed under another name).
  for (const [path, byId] of links) listed.push({ path, byId });
  return listed.sort((a, b) => a.path.localeCompare(b.path));
}

export function formatPorts(ports: readonly ListedPort[]): string {
  if (ports.length === 0) {
    return 'no serial ports found (is the adapter plugged in? `dmesg | tail` shows what the kernel saw)\n';
  }
  const lines: string[] = [];
  for (const p of ports) {
    const usb = p.vendorId !== undefined ? `  usb ${p.vendorId}:${p.productId ?? '????'}` : '';
    const who = [p.manufacturer, p.serialNumber && `serial ${p.serialNumber}`].filter(Boolean).join(', ');
    lines.push(`${p.path}${usb}${who ? `  ${who}` : ''}`);
    for (const link of p.byId) lines.push(`  path: ${link}`);
    if (p.byId.length === 0) lines.push('  (no /dev/serial/by-id link: use the path above; it may change)');
  }
  return `${lines.join('\n')}\n`;
}

export const serialListCommand: Command = {
  name: 'serial list',
  usage: '[--json]',
  summary: 'List serial ports and their stable /dev/serial/by-id paths, for a serial source.',
  help: "Put the by-id path in the source's `path`: /dev/ttyUSB0 can name another adapter after a replug.\n  --json   print the list as JSON",
  async run(args) {
    const { values } = parse(args, { json: { type: 'boolean' } }, 'sluice serial list [--json]');
    const ports = await listPorts();
    process.stdout.write(values.json ? `${JSON.stringify(ports, null, 2)}\n` : formatPorts(ports));
    return 0;
  },
};
