// `sluice serial list`: the serial ports this machine has, with the stable /dev/serial/by-id path to put in
// a `serial` source's `path`, for field setup (which adapter is which). Read from sysfs directly, as udev
// itself does: serialport's lister spawns `udevadm`, which containers and minimal images do not have.
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errorMessage } from '../errors.js';
import { parse, type Command } from './args.js';

export interface ListedPort {
  /** Kernel name, e.g. /dev/ttyUSB0: may name another adapter after a replug. */
  readonly path: string;
  /** Stable links to the same device (udev's /dev/serial/by-id): what a config should use. */
  readonly byId: readonly string[];
  readonly manufacturer?: string;
  readonly serialNumber?: string;
  /** USB idVendor, 4 hex digits as the kernel shows it (e.g. 0403). */
  readonly vendorId?: string;
  readonly productId?: string;
  /** What the scan could not learn about this port, and why. */
  readonly notes?: readonly string[];
}

export interface ScanRoots {
  /** Where sysfs is mounted. Default /sys. */
  readonly sys?: string;
  /** Where device nodes are. Default /dev. */
  readonly dev?: string;
  /** Default `<dev>/serial/by-id`. */
  readonly byId?: string;
}

export interface PortScan {
  readonly ports: ListedPort[];
  /** What the scan as a whole could not do or chose to skip (sysfs unreadable, placeholder UARTs). */
  readonly notes: string[];
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

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/** A sysfs attribute, trimmed; undefined when the kernel does not provide it (ENOENT). Throws otherwise. */
function attribute(dir: string, name: string): string | undefined {
  try {
    return readFileSync(join(dir, name), 'utf8').trim();
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Like attribute, but a failure becomes a note on the port instead of ending the scan. */
function attributeOrNote(dir: string, name: string, notes: string[]): string | undefined {
  try {
    return attribute(dir, name);
  } catch (err) {
    notes.push(`${name} unreadable: ${errorMessage(err)}`);
    return undefined;
  }
}

/** The device node named in the uevent (DEVNAME=ttyUSB0), else the sysfs name ('!' stands for '/'). */
function devName(entry: string, name: string, notes: string[]): string {
  const uevent = attributeOrNote(entry, 'uevent', notes);
  const match = uevent && /^DEVNAME=(.+)$/m.exec(uevent);
  return match?.[1] ?? name.replace(/!/g, '/');
}

/** The bus a sysfs device is on, for a note; undefined when it has none or it cannot be read. */
function subsystemOf(dir: string): string | undefined {
  try {
    return basename(realpathSync(join(dir, 'subsystem')));
  } catch (err) {
    // Only ever shown in a note (which bus a non-USB port is on): a missing name says enough there.
    return errno(err) === 'ENOENT' ? undefined : `? (${errno(err) ?? 'error'})`;
  }
}

/**
 * The USB device above a tty's device, walking up the sysfs device path (a ttyUSB sits two levels under
 * it: usb-serial port, then interface; a ttyACM one: the interface): the first ancestor with an idVendor.
 * Returns the busses passed on the way when there is none, to say what the device is instead.
 */
function usbDeviceAbove(device: string, sysRoot: string): { usb?: string; busses: string[] } {
  const busses: string[] = [];
  for (let dir = device; dir.startsWith(`${sysRoot}/`); dir = dirname(dir)) {
    if (existsSync(join(dir, 'idVendor'))) return { usb: dir, busses };
    const bus = subsystemOf(dir);
    if (bus !== undefined && !busses.includes(bus)) busses.push(bus);
  }
  return { busses };
}

/** One /sys/class/tty entry: a port, or why it is not one (undefined: not hardware, say nothing). */
function scanEntry(
  classDir: string,
  name: string,
  roots: Required<ScanRoots>,
  sysReal: string,
): ListedPort | { skipped: string } | undefined {
  const entry = join(classDir, name);
  let device: string;
  try {
    device = realpathSync(join(entry, 'device'));
  } catch (err) {
    // No `device` link: a virtual terminal, ptmx, console: no hardware behind it.
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
  const notes: string[] = [];
  // Serial-core ports (8250 and every other UART driver) show their UART type, as TIOCGSERIAL does; 0 is
  // PORT_UNKNOWN (include/uapi/linux/serial_core.h): the driver found no UART at that address, the port
  // cannot be opened for I/O (setserial prints "UART: unknown"). That is what the kernel's ttyS1..ttyS31
  // placeholders look like. Deciding by the device's bus instead (pyserial hides "platform" devices)
  // hides real UARTs, such as the Raspberry Pi's mini UART, and fails on kernels >= 6.5, whose serial
  // ports all hang under the serial-base bus.
  const type = attributeOrNote(entry, 'type', notes);
  if (type === '0') return { skipped: name };

  const path = join(roots.dev, devName(entry, name, notes));
  const { usb, busses } = usbDeviceAbove(device, sysReal);
  if (usb === undefined) {
    const on = busses.filter((b) => b !== 'serial-base');
    return {
      path,
      byId: [],
      notes: [...notes, `no USB attributes: not a USB device (bus: ${on.join(', ') || 'none'})`],
    };
  }
  const vendorId = attributeOrNote(usb, 'idVendor', notes);
  const productId = attributeOrNote(usb, 'idProduct', notes);
  const manufacturer = attributeOrNote(usb, 'manufacturer', notes);
  const before = notes.length;
  const serialNumber = attributeOrNote(usb, 'serial', notes);
  if (serialNumber === undefined && notes.length === before) {
    // The descriptor is optional; udev's by-id name then has no serial part.
    notes.push('no USB serial number: two adapters of this model get the same by-id name');
  }
  return {
    path,
    byId: [],
    ...(manufacturer !== undefined && { manufacturer }),
    ...(serialNumber !== undefined && { serialNumber }),
    ...(vendorId !== undefined && { vendorId }),
    ...(productId !== undefined && { productId }),
    ...(notes.length > 0 && { notes }),
  };
}

function realOr(path: string): string {
  try {
    return realpathSync(path);
  } catch (err) {
    // A node sysfs shows but /dev lacks (no devtmpfs, or a container's own /dev): keep the name.
    if (errno(err) === 'ENOENT') return path;
    throw err;
  }
}

/**
 * The serial ports sysfs shows (/sys/class/tty entries with a `device`, i.e. hardware, minus UART
 * placeholders), each with its /dev/serial/by-id links and USB attributes. Never throws: what it cannot
 * read becomes a note, on the port or on the scan.
 */
export function scanPorts(options: ScanRoots = {}): PortScan {
  const dev = options.dev ?? '/dev';
  const roots: Required<ScanRoots> = {
    sys: options.sys ?? '/sys',
    dev,
    byId: options.byId ?? join(dev, 'serial', 'by-id'),
  };
  const notes: string[] = [];
  const found: ListedPort[] = [];
  const skipped: string[] = [];
  const classDir = join(roots.sys, 'class', 'tty');
  let names: string[] = [];
  try {
    names = readdirSync(classDir).sort();
  } catch (err) {
    notes.push(`sysfs not readable: ${errorMessage(err)}; only /dev/serial/by-id links are listed`);
  }
  const sysReal = names.length > 0 ? realOr(roots.sys) : roots.sys;
  for (const name of names) {
    try {
      const port = scanEntry(classDir, name, roots, sysReal);
      if (port === undefined) continue;
      if ('skipped' in port) skipped.push(port.skipped);
      else found.push(port);
    } catch (err) {
      notes.push(`${join(classDir, name)} not readable: ${errorMessage(err)}`);
    }
  }
  if (skipped.length > 0) {
    notes.push(`skipped ${skipped.length} placeholder port(s) with no UART (type 0): ${skipped.join(' ')}`);
  }

  let links = new Map<string, string[]>();
  try {
    links = byIdLinks(roots.byId);
  } catch (err) {
    notes.push(`${roots.byId} not readable: ${errorMessage(err)}`);
  }
  const ports: ListedPort[] = found.map((p) => {
    const key = realOr(p.path);
    const byId = links.get(key) ?? [];
    links.delete(key);
    return { ...p, byId };
  });
  // Links to nodes sysfs does not list as serial hardware (a pty, or a device gone meanwhile).
  for (const [path, byId] of links) {
    ports.push({ path, byId, notes: ['not a serial device in sysfs: known by its by-id link only'] });
  }
  ports.sort((a, b) => a.path.localeCompare(b.path));
  return { ports, notes };
}

/** The ports of scanPorts, without the scan's own notes. */
export function listPorts(roots: ScanRoots = {}): Promise<ListedPort[]> {
  return Promise.resolve(scanPorts(roots).ports);
}

export function formatPorts(ports: readonly ListedPort[], notes: readonly string[] = []): string {
  const lines: string[] = [];
  if (ports.length === 0) {
    lines.push('no serial ports found (is the adapter plugged in? `dmesg | tail` shows what the kernel saw)');
  }
  for (const p of ports) {
    const usb = p.vendorId !== undefined ? `  usb ${p.vendorId}:${p.productId ?? '????'}` : '';
    const who = [p.manufacturer, p.serialNumber && `serial ${p.serialNumber}`].filter(Boolean).join(', ');
    lines.push(`${p.path}${usb}${who ? `  ${who}` : ''}`);
    for (const link of p.byId) lines.push(`  path: ${link}`);
    if (p.byId.length === 0) lines.push('  (no /dev/serial/by-id link: use the path above; it may change)');
    for (const note of p.notes ?? []) lines.push(`  note: ${note}`);
  }
  for (const note of notes) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;
}

export const serialListCommand: Command = {
  name: 'serial list',
  usage: '[--json]',
  summary: 'List serial ports and their stable /dev/serial/by-id paths, for a serial source.',
  help: "Put the by-id path in the source's `path`: /dev/ttyUSB0 can name another adapter after a replug.\n  --json   print the list as JSON (notes about the scan itself go to stderr)",
  run(args) {
    const { values } = parse(args, { json: { type: 'boolean' } }, 'sluice serial list [--json]');
    const { ports, notes } = scanPorts();
    if (values.json) {
      process.stdout.write(`${JSON.stringify(ports, null, 2)}\n`);
      for (const note of notes) process.stderr.write(`note: ${note}\n`);
    } else {
      process.stdout.write(formatPorts(ports, notes));
    }
    return Promise.resolve(0);
  },
};
