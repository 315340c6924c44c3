// The metrics spec every component follows (after Vector's component spec): events and bytes in and out,
// errors by stage and kind, discarded events by reason; queue gauges are collected from the queue itself.
import { Counter, Gauge, Registry } from 'prom-client';
import type { Queue } from '../queue/queue.js';

export type ComponentKind = 'source' | 'sink';

/** The per-component view of the metrics, handed to each source and sink. */
export interface ComponentMetrics {
  /** Events (readings) and bytes taken in from outside (sources) or from the queue (sinks). */
  received(events: number, bytes: number): void;
  /** Events and bytes delivered: to the queue (sources) or acknowledged upstream (sinks). */
  sent(events: number, bytes: number): void;
  /** An error at a stage (`decode`, `ingest`, `connect`, `write`, ...), of a kind (an error code). */
  error(stage: string, kind: string): void;
  /** Events refused or dropped, with a stable reason (`bad_payload`, `queue_full`, `dead_letter`, ...). */
  discarded(events: number, reason: string): void;
}

export class Telemetry {
  readonly registry = new Registry();
  private readonly receivedEvents: Counter<string>;
  private readonly receivedBytes: Counter<string>;
  private readonly sentEvents: Counter<string>;
  private readonly sentBytes: Counter<string>;
  private readonly errors: Counter<string>;
  private readonly discardedEvents: Counter<string>;

  constructor(gatewayId: string) {
    this.registry.setDefaultLabels({ gateway: gatewayId });
    const labels = ['component_kind', 'component_id', 'component_type'];
    const counter = (name: string, help: string, extra: string[] = []): Counter<string> =>
      new Counter({ name, help, labelNames: [...labels, ...extra], registers: [this.registry] });
    this.receivedEvents = counter(
      'sluice_component_received_events_total',
      'Readings received by a component.',
    );
    this.receivedBytes = counter('sluice_component_received_bytes_total', 'Bytes received by a component.');
    this.sentEvents = counter('sluice_component_sent_events_total', 'Readings a component delivered onward.');
    this.sentBytes = counter('sluice_component_sent_bytes_total', 'Bytes a component delivered onward.');
    this.errors = counter('sluice_component_errors_total', 'Errors by stage and kind.', [
      'stage',
      'error_type',
    ]);
    this.discardedEvents = counter('sluice_component_discarded_events_total', 'Readings refused or parked.', [
      'reason',
    ]);
  }

  forComponent(kind: ComponentKind, id: string, type: string): ComponentMetrics {
    const l = { component_kind: kind, component_id: id, component_type: type };
    return {
      received: (events, bytes) => {
        this.receivedEvents.inc(l, events);
        this.receivedBytes.inc(l, bytes);
      },
      sent: (events, bytes) => {
        this.sentEvents.inc(l, events);
        this.sentBytes.inc(l, bytes);
      },
      error: (stage, errorType) => this.errors.inc({ ...l, stage, error_type: errorType }),
      discarded: (events, reason) => this.discardedEvents.inc({ ...l, reason }, events),
    };
  }

  /** Queue depth, bytes, drops and per-sink lag, read from the queue at scrape time. */
  watchQueue(queue: Queue): void {
    const gauge = (name: string, help: string, pick: (q: Queue) => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(pick(queue));
        },
      });
    };
    gauge('sluice_queue_depth_events', 'Readings held in the queue.', (q) => q.stats().depth);
    gauge('sluice_queue_bytes', 'Encoded bytes held in the queue.', (q) => q.stats().bytes);
    gauge('sluice_queue_max_bytes', 'Configured queue.max_bytes.', (q) => q.options.maxBytes);
    gauge(
      'sluice_queue_dropped_events',
      'Readings dropped by on_full: drop_oldest, ever.',
      (q) => q.stats().dropped,
    );
    gauge(
      'sluice_queue_rejected_events',
      'Readings refused by on_full: reject_new since start.',
      (q) => q.stats().rejected,
    );
    gauge('sluice_queue_commits', 'Flushed queue transactions since start.', (q) => q.stats().commits);
    gauge('sluice_queue_last_sequence', 'Highest sequence number assigned.', (q) => q.lastSeq);
    const perSink = (
      name: string,
      help: string,
      pick: (c: ReturnType<Queue['cursorStats']>) => number,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: ['sink'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const c of queue.stats().cursors) this.set({ sink: c.name }, pick(c));
        },
      });
    };
    perSink('sluice_sink_lag_events', 'Readings a sink has not yet acknowledged.', (c) => c.lag);
    perSink('sluice_sink_oldest_unacked_age_seconds', 'Age of the oldest unacknowledged reading.', (c) =>
      c.oldestUnackedAgeMs === null ? 0 : c.oldestUnackedAgeMs / 1000,
    );
    perSink(
      'sluice_sink_dropped_events',
      'Readings dropped before this sink delivered them.',
      (c) => c.dropped,
    );
  }
}

/** Metrics that count nothing, for unit tests of components and for tools. */
export const noMetrics: ComponentMetrics = {
  received: () => undefined,
  sent: () => undefined,
  error: () => undefined,
  discarded: () => undefined,
};
