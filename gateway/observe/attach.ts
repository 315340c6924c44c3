// What `sluice run` adds around a started Gateway: the HTTP endpoints (when observe.http.enabled) and the
// systemd notifications. A failure to serve HTTP is logged and leaves the gateway forwarding: readings
// matter more than their dashboard.
import { errorMessage } from '../errors.js';
import type { ObservedGateway } from './health.js';
import { ObserveServer } from './http-server.js';
import { SystemdNotifier } from './sd-notify.js';

export interface Observability {
  readonly server: ObserveServer | undefined;
  /** Tells systemd the gateway is stopping (before Gateway.stop()). */
  stopping(): Promise<void>;
  /** Closes the HTTP server (after Gateway.stop()). */
  close(): Promise<void>;
}

export async function startObservability(gw: ObservedGateway): Promise<Observability> {
  let server: ObserveServer | undefined;
  if (gw.config.observe.http.enabled) {
    try {
      server = await ObserveServer.start(gw);
    } catch (err) {
      const { listen, port } = gw.config.observe.http;
      gw.log.error(
        { err: errorMessage(err), listen, port },
        'cannot serve metrics and health over HTTP; the gateway keeps forwarding. Free the port or set observe.http.port',
      );
    }
  }
  const systemd = SystemdNotifier.fromEnv(gw.log);
  if (systemd) {
    await systemd.ready(server ? `forwarding; status at ${server.url}` : 'forwarding');
    systemd.startWatchdog();
  }
  return {
    server,
    async stopping() {
      if (systemd) await systemd.stopping();
    },
    async close() {
      if (server) await server.close();
    },
  };
}
