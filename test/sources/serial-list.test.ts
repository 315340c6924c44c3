// `sluice serial list`: ports from sysfs (no udev), with the stable by-id links a config should use.
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { byIdLinks, formatPorts, listPorts, scanPorts, serialListCommand } from '../../gateway/cli/serial.js';
import { tempDir } from '../helpers/tmp.js';
import { PtyPair } from '../peers/socat.js';

/** A relative symlink at `link` pointing to `target`, as sysfs and udev make them. */
function link(target: string, at: string): void {
  mkdirSync(dirname(at), { recursive: true });
  symlinkSync(relative(dirname(at), target), at);
}

/** A sysfs device directory with attribute files and, optionally, the bus it is on. */
function device(
  dir: string,
  sys: string,
  bus: string | undefined,
  attrs: Record<string, string> = {},
): string {
  mkdirSync(dir, { recursive: true });
  if (bus) {
    mkdirSync(join(sys, 'bus', bus), { recursive: true });
    link(join(sys, 'bus', bus), join(dir, 'subsystem'));
  }
  for (const [name, value] of Object.entries(attrs)) writeFileSync(join(dir, name), `${value}\n`);
  return dir;
}

/** The tty class entry of `name` under `parent` (its `device`), listed in /sys/class/tty like the kernel's. */
function tty(
  sys: string,
  parent: string | undefined,
  name: string,
  attrs: Record<string, string> = {},
): string {
  const dir = join(parent ?? join(sys, 'devices', 'virtual'), 'tty', name);
  device(dir, sys, undefined, { uevent: `MAJOR=4\nMINOR=64\nDEVNAME=${name}`, dev: '4:64', ...attrs });
  if (parent) link(parent, join(dir, 'device'));
  link(dir, join(sys, 'class', 'tty', name));
  return dir;
}

/**
 * A machine's sysfs and /dev as Linux 6.x shows them: an FTDI adapter (ttyUSB0, usb-serial under a USB
 * interface) and an Arduino (ttyACM0, under the interface) with by-id links, a real 16550 (ttyS0 on pnp),
 * an 8250 placeholder without a UART (ttyS1, type 0), a virtual console (tty0), and an attribute the
 * kernel refuses to read (the Arduino's serial: a directory here, EISDIR, so it is unreadable as root too).
 */
function fakeMachine(): { sys: string; dev: string; byId: string } {
  const root = tempDir('sluice-fake-sysfs-');
  const sys = join(root, 'sys');
  const dev = join(root, 'dev');
  const usb = join(sys, 'devices', 'pci0000:00', '0000:00:14.0', 'usb1');

  const ftdi = device(join(usb, '1-1'), sys, 'usb', {
    idVendor: '0403',
    idProduct: '6001',
    manufacturer: 'FTDI',
    serial: 'A50285BI',
  });
  const ftdiIf = device(join(ftdi, '1-1:1.0'), sys, 'usb', { bInterfaceNumber: '00' });
  tty(sys, device(join(ftdiIf, 'ttyUSB0'), sys, 'usb-serial'), 'ttyUSB0');

  const arduino = device(join(usb, '1-2'), sys, 'usb', {
    idVendor: '2341',
    idProduct: '0043',
    manufacturer: 'Arduino (www.arduino.cc)',
  });
  mkdirSync(join(arduino, 'serial'));
  tty(sys, device(join(arduino, '1-2:1.0'), sys, 'usb'), 'ttyACM0');

  const pnp = device(join(sys, 'devices', 'pnp0', '00:00'), sys, 'pnp');
  tty(sys, device(join(pnp, '00:00:0', '00:00:0.0'), sys, 'serial-base'), 'ttyS0', { type: '4' });
  const platform = device(join(sys, 'devices', 'platform', 'serial8250'), sys, 'platform');
  tty(sys, device(join(platform, 'serial8250:0', 'serial8250:0.1'), sys, 'serial-base'), 'ttyS1', {
    type: '0',
  });
  tty(sys, undefined, 'tty0');

  mkdirSync(dev);
  for (const node of ['ttyUSB0', 'ttyACM0', 'ttyS0', 'ttyS1', 'tty0']) writeFileSync(join(dev, node), '');
  const byId = join(dev, 'serial', 'by-id');
  link(join(dev, 'ttyUSB0'), join(byId, 'usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0'));
  link(join(dev, 'ttyACM0'), join(byId, 'usb-Arduino__www.arduino.cc__0043-if00'));
  return { sys, dev: realpathSync(dev), byId: realpathSync(byId) };
}

describe('sluice serial list', () => {
  it('reads ports, USB attributes and by-id links from sysfs, skips placeholder UARTs, says what it could not read', () => {
    const { sys, dev, byId } = fakeMachine();
    const { ports, notes } = scanPorts({ sys, dev });
    expect(ports).toEqual([
      {
        path: join(dev, 'ttyACM0'),
        byId: [join(byId, 'usb-Arduino__www.arduino.cc__0043-if00')],
        manufacturer: 'Arduino (www.arduino.cc)',
        vendorId: '2341',
        productId: '0043',
        notes: [expect.stringMatching(/^serial unreadable: .*EISDIR/)],
      },
      {
        path: join(dev, 'ttyS0'),
        byId: [],
        notes: ['no USB attributes: not a USB device (bus: pnp)'],
      },
      {
        path: join(dev, 'ttyUSB0'),
        byId: [join(byId, 'usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0')],
        manufacturer: 'FTDI',
        serialNumber: 'A50285BI',
        vendorId: '0403',
        productId: '6001',
      },
    ]);
    expect(notes).toEqual(['skipped 1 placeholder port(s) with no UART (type 0): ttyS1']);

    const text = formatPorts(ports, notes);
    expect(text).toContain(
      `${join(dev, 'ttyUSB0')}  usb 0403:6001  FTDI, serial A50285BI\n  path: ${join(byId, 'usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0')}\n`,
    );
    expect(text).toContain(`${join(dev, 'ttyS0')}\n  (no /dev/serial/by-id link`);
    expect(text).toContain('  note: no USB attributes: not a USB device (bus: pnp)\n');
    expect(text).toMatch(/\nnote: skipped 1 placeholder port/);
  });

  it('lists what it can when sysfs is not readable, instead of failing', () => {
    const { dev } = fakeMachine();
    const { ports, notes } = scanPorts({ sys: join(dev, 'no-sysfs'), dev });
    expect(notes).toEqual([
      expect.stringMatching(/^sysfs not readable: .*ENOENT.*only \/dev\/serial\/by-id/),
    ]);
    expect(ports.map((p) => [p.path, p.byId.length])).toEqual([
      [join(dev, 'ttyACM0'), 1],
      [join(dev, 'ttyUSB0'), 1],
    ]);
    expect(ports[0]?.notes).toEqual(['not a serial device in sysfs: known by its by-id link only']);
  });

  it('pairs a real pty (socat) with the by-id links that name it, and says when there is none', async () => {
    const pair = await PtyPair.start(tempDir('sluice-serial-list-'));
    try {
      const byId = tempDir('sluice-by-id-');
      const link = join(byId, 'usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0');
      symlinkSync(pair.devPath, link);
      symlinkSync(join(byId, 'gone'), join(byId, 'usb-unplugged-if00-port0'));
      const node = realpathSync(pair.devPath);
      expect(byIdLinks(byId).get(node)).toEqual([link]);
      expect(byIdLinks(join(byId, 'absent')).size).toBe(0);

      // This machine's real sysfs: a pty is no serial hardware there, so only its link lists it.
      const ports = await listPorts({ byId });
      expect(ports.find((p) => p.path === node)).toEqual({
        path: node,
        byId: [link],
        notes: ['not a serial device in sysfs: known by its by-id link only'],
      });
      expect(ports.some((p) => p.path.includes('dangling'))).toBe(true);
      const text = formatPorts([...ports, { path: '/dev/ttyS0', byId: [] }]);
      expect(text).toContain(`${node}\n  path: ${link}\n`);
      expect(text).toContain('/dev/ttyS0\n  (no /dev/serial/by-id link');
      expect(formatPorts([])).toMatch(/^no serial ports found/);
    } finally {
      await pair.stop();
    }
  });

  it('is a CLI command that prints JSON on request, on this machine without udev', async () => {
    expect(serialListCommand.name).toBe('serial list');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const writeErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await serialListCommand.run(['--json'])).toBe(0);
      const listed: unknown = JSON.parse(String(write.mock.calls[0]?.[0]));
      expect(Array.isArray(listed)).toBe(true);
      for (const note of writeErr.mock.calls) expect(String(note[0])).toMatch(/^note: /);
    } finally {
      write.mockRestore();
      writeErr.mockRestore();
    }
  });
});
