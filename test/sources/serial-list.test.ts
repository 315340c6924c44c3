// `sluice serial list`: ports with the stable by-id links a config should use.
import { realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { byIdLinks, formatPorts, listPorts, serialListCommand } from '../../gateway/cli/serial.js';
import { tempDir } from '../helpers/tmp.js';
import { PtyPair } from '../peers/socat.js';

describe('sluice serial list', () => {
  it('pairs each device node with the by-id links that name it, and says when there is none', async () => {
    const pair = await PtyPair.start(tempDir('sluice-serial-list-'));
    try {
      const byId = tempDir('sluice-by-id-');
      const link = join(byId, 'usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0');
      symlinkSync(pair.devPath, link);
      symlinkSync(join(byId, 'gone'), join(byId, 'usb-unplugged-if00-port0'));
      const node = realpathSync(pair.devPath);
      expect(byIdLinks(byId).get(node)).toEqual([link]);
      expect(byIdLinks(join(byId, 'absent')).size).toBe(0);

      const ports = await listPorts(byId);
      expect(ports.find((p) => p.path === node)).toEqual({ path: node, byId: [link] });
      expect(ports.some((p) => p.path.includes('dangling'))).toBe(true);
      const text = formatPorts([...ports, { path: '/dev/ttyS0', byId: [] }]);
      expect(text).toContain(`${node}\n  path: ${link}\n`);
      expect(text).toContain('/dev/ttyS0\n  (no /dev/serial/by-id link');
      expect(formatPorts([])).toMatch(/^no serial ports found/);
    } finally {
      await pair.stop();
    }
  });

  it('is a CLI command that prints JSON on request', async () => {
    expect(serialListCommand.name).toBe('serial list');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await serialListCommand.run(['--json'])).toBe(0);
      expect(Array.isArray(JSON.parse(String(write.mock.calls[0]?.[0])))).toBe(true);
    } finally {
      write.mockRestore();
    }
  });
});
