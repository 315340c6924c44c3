// The `observe:` section of the config: the loopback HTTP endpoints (metrics, health, status API and page),
// the "looks alive but stuck" thresholds and the in-memory history behind the status page chart.
import { z } from 'zod';
import { byteSize, durationMs } from '../config/common.js';
import { parseHostHeader } from './host.js';

export const observeSchema = z
  .strictObject({
    http: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'Serve /metrics, /healthz, /readyz, /api/status and the status page (`sluice run` only).',
          ),
        listen: z
          .string()
          .min(1)
          .default('127.0.0.1')
          .describe(
            'Address to listen on. Loopback by default: the endpoints are read-only but unauthenticated.',
          ),
        port: z
          .number()
          .int()
          .min(0)
          .max(65_535)
          .default(9464)
          .describe('TCP port; 0 picks a free one (logged as "http listening").'),
        allowed_hosts: z
          .array(
            z.string().refine((h) => h === '*' || parseHostHeader(h) !== undefined, {
              message:
                'a host name or IP address, optionally with :port (e.g. "gw-1.lan", "[fd00::5]:9464"), or "*"',
            }),
          )
          .default([])
          .describe(
            'DNS names (optionally with :port) by which Prometheus, a reverse proxy or a browser reach this gateway. The endpoints answer only requests whose Host header is an IP address, `localhost`, the `listen` address, or one of these (an entry without a port matches any port); others get 421, so that a web page whose DNS name is rebound to this gateway cannot read it. `*` accepts any Host and gives up that protection.',
          ),
      })
      .prefault({})
      .describe('The HTTP endpoints that `sluice status`, `sluice top` and Prometheus read.'),
    health: z
      .strictObject({
        stall_after_ms: durationMs
          .min(1000)
          .default(180_000)
          .describe(
            'A sink with readings waiting, connected and healthy, that acknowledged nothing for this long makes /healthz fail. Keep it above the longest roll_interval_ms of file-like sinks.',
          ),
        disk_min_free_bytes: byteSize
          .default(256 * 1024 * 1024)
          .describe('/healthz fails when the file system of gateway.data_dir has less free space than this.'),
        disk_min_free_percent: z
          .number()
          .min(0)
          .max(100)
          .default(5)
          .describe('/healthz fails when that file system has less than this percentage free.'),
      })
      .prefault({})
      .describe('When /healthz reports the gateway as stuck.'),
    history: z
      .strictObject({
        sample_interval_ms: durationMs
          .min(100)
          .default(10_000)
          .describe('How often queue depth and lag are sampled for the status page chart.'),
        samples: z
          .number()
          .int()
          .min(2)
          .max(100_000)
          .default(360)
          .describe('Samples kept in memory (360 x 10 s = the last hour).'),
      })
      .prefault({})
      .describe('The in-memory history behind the status page chart.'),
  })
  .prefault({})
  .describe('Metrics, health checks and the local status page.');

export type ObserveConfig = z.output<typeof observeSchema>;
