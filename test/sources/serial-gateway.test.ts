// The serial source as an operator runs it: declared in a YAML config, validated, started by the Gateway,
// its per-port counters in the status and its bytes, rejections and disconnects in the metrics.
import { describe, expect, it } from 'vitest';
import { encodeSentence } from '../../drivers/nmea/index.js';
import { parseConfig } from '../../gateway/config/load.js';
import { silentLogger } from '../../gateway/observe/log.js';
import { Gateway } from '../../gateway/runtime/gateway.js';
import type { SerialHealth } from '../../gateway/sources/serial/index.js';
import { tempDir } from '../helpers/tmp.js';
import { PtyPair } from '../peers/socat.js';
import { until } from '../helpers/wait.mjs';
import { SimDevice, serialWait } from './serial-harness.js';

describe('serial source in the gateway', () => {
  it('runs from a validated config: readings queued, port counters in status(), metrics counted', async () => {
    const pair = await PtyPair.start(tempDir('sluice-serial-gw-'));
    const yaml = `
gateway: { id: gw-serial, data_dir: ${tempDir('sluice-serial-gw-data-')} }
sources:
  gps:
    type: serial
    path: ${pair.devPath}
    baud_rate: 4800
    check_interval_ms: 100
    driver: { type: nmea, sentences: [GGA] }
`;
    const gw = await Gateway.start(parseConfig(yaml, 'serial.yaml'), { log: silentLogger });
    const port = (): SerialHealth['port'] => (gw.status().sources[0]!.health as SerialHealth).port;
    try {
      await until(() => port().connected, { ...serialWait, what: 'port open' });
      const sim = await SimDevice.open(pair.simPath);
      const gga = encodeSentence('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,');
      const text = `${gga}$GPGGA,broken*00\r\n${gga}`;
      await sim.write(text);
      await until(() => port().frames === 2 && port().appending === 0, {
        ...serialWait,
        what: 'two sentences queued',
      });
      await sim.close();
      await pair.stop();
      await until(() => !port().connected, { ...serialWait, what: 'unplug noticed' });
      expect(gw.status().sources[0]!.health.state).toBe('degraded');

      const queued = gw.queue.readSized(0, 100).readings;
      expect(queued.filter((r) => r.metric === 'altitude').map((r) => r.device)).toEqual(['gps', 'gps']);
      expect(gw.status().sources[0]!.rejected).toEqual({ 'gps/bad_checksum': 1 });
      expect(port()).toMatchObject({
        frames: 2,
        bad_frames: 1,
        bytes: text.length,
        disconnects: 1,
        readings: queued.length,
      });
      const metrics = await gw.metrics.registry.metrics();
      expect(Number(/received_bytes_total\{[^}]*component_id="gps"[^}]*\} (\d+)/.exec(metrics)?.[1])).toBe(
        text.length,
      );
      expect(metrics).toMatch(/sluice_component_discarded_events_total\{[^}]*reason="bad_checksum"[^}]*\} 1/);
      expect(metrics).toMatch(
        /sluice_component_errors_total\{[^}]*stage="port",error_type="disconnected"[^}]*\} 1/,
      );
    } finally {
      await gw.stop();
      await pair.stop();
    }
  });
});
