// The metrics registry of one gateway: it implements the component metrics spec (gateway/metrics-spec.ts)
// and is the only place metric names are defined: events and bytes in and out, errors by stage and kind,
// discarded events by reason; queue and per-sink gauges are collected from the queue itself at scrape time.
// The spec is written out in README.md ("Metrics"); change both together.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ComponentKind, ComponentMetrics } from '../metrics-spec.js';
import type { ProcessorMetrics } from '../processors/types.js';
import type { Queue } from '../queue/queue.js';

/** Running totals of one component, kept beside the Prometheus counters for `/api/status` and `sluice top`. */
export interface ComponentTotals {
  readonly kind: ComponentKind;
  readonly id: string;
  readonly type: string;
  receivedEvents: number;
  receivedBytes: number;
  sentEvents: number;
  sentBytes: number;
  errors: number;
  discardedEvents: number;
}

/** One counted error, for the "last errors" list of the status page. */
export interface ErrorEvent {
  readonly at: number;
  readonly componentKind: ComponentKind;
  readonly componentId: string;
  readonly stage: string;
  readonly errorType: string;
}

/** Running totals of one processor of a source's or sink's chain, for `/api/status` and `sluice top`. */
export interface ProcessorTotals {
  readonly kind: ComponentKind;
  /** The source or sink whose chain it is in. */
  readonly component: string;
  /** Its `name`, or `<position>-<type>`. */
  readonly processor: string;
  readonly type: string;
  in: number;
  out: number;
  /** Dropped readings by reason (`filtered`, `in_band`, `downsampled`, `error`). */
  readonly dropped: Record<string, number>;
  /** Readings it could not handle, by reason (`eval_error`, `not_numeric`, ...). */
  readonly errors: Record<string, number>;
}

const RECENT_ERRORS = 20;

/** Prometheus counters and gauges of one gateway, and the running totals `/api/status` and `sluice top` show. */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly errors: Counter<string>;
  private readonly discardedEvents: Counter<string>;
  private readonly totals = new Map<string, ComponentTotals>();
  private readonly processors = new Map<string, ProcessorTotals>();
  private readonly lastErrors: ErrorEvent[] = [];
  private processMetrics = false;

  constructor(gatewayId: string) {
    this.registry.setDefaultLabels({ gateway: gatewayId });
    const labels = ['component_kind', 'component_id', 'component_type'];
    const counter = (name: string, help: string, extra: string[] = []): Counter<string> =>
      new Counter({ name, help, labelNames: [...labels, ...extra], registers: [this.registry] });
    // Events and bytes are counted on every reading: plain numbers in `totals` on the hot path, copied into
    // the Prometheus counters when they are scraped (prom-client hashes the label set on every inc()).
    const totals = this.totals;
    const fromTotals = (name: string, help: string, pick: (t: ComponentTotals) => number): void => {
      new Counter({
        name,
        help,
        labelNames: labels,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const t of totals.values()) {
            this.inc({ component_kind: t.kind, component_id: t.id, component_type: t.type }, pick(t));
          }
        },
      });
    };
    fromTotals(
      'sluice_component_received_events_total',
      'Readings received by a component.',
      (t) => t.receivedEvents,
    );
    fromTotals(
      'sluice_component_received_bytes_total',
      'Bytes received by a component.',
      (t) => t.receivedBytes,
    );
    fromTotals(
      'sluice_component_sent_events_total',
      'Readings a component delivered onward.',
      (t) => t.sentEvents,
    );
    fromTotals(
      'sluice_component_sent_bytes_total',
      'Bytes a component delivered onward.',
      (t) => t.sentBytes,
    );
    this.errors = counter('sluice_component_errors_total', 'Errors by stage and kind.', [
      'stage',
      'error_type',
    ]);
    this.processorCounters();
    this.discardedEvents = counter('sluice_component_discarded_events_total', 'Readings refused or parked.', [
      'reason',
    ]);
  }

  forComponent(kind: ComponentKind, id: string, type: string): ComponentMetrics {
    const l = { component_kind: kind, component_id: id, component_type: type };
    const key = `${kind}/${id}`;
    let t = this.totals.get(key);
    if (!t) {
      t = {
        kind,
        id,
        type,
        receivedEvents: 0,
        receivedBytes: 0,
        sentEvents: 0,
        sentBytes: 0,
        errors: 0,
        discardedEvents: 0,
      };
      this.totals.set(key, t);
    }
    const totals = t;
    return {
      received: (events, bytes) => {
        totals.receivedEvents += events;
        totals.receivedBytes += bytes;
      },
      sent: (events, bytes) => {
        totals.sentEvents += events;
        totals.sentBytes += bytes;
      },
      error: (stage, errorType) => {
        this.errors.inc({ ...l, stage, error_type: errorType });
        totals.errors++;
        this.lastErrors.push({ at: Date.now(), componentKind: kind, componentId: id, stage, errorType });
        if (this.lastErrors.length > RECENT_ERRORS) this.lastErrors.shift();
      },
      discarded: (events, reason) => {
        this.discardedEvents.inc({ ...l, reason }, events);
        totals.discardedEvents += events;
      },
    };
  }

  /**
   * Processor metrics: plain numbers on the hot path (the chain reports once per batch), copied into the
   * counters at scrape time, labelled by the component whose chain it is and the processor's label.
   */
  private processorCounters(): void {
    const all = this.processors;
    const labelNames = ['component_kind', 'component_id', 'processor', 'processor_type'];
    const labelsOf = (t: ProcessorTotals): Record<string, string> => ({
      component_kind: t.kind,
      component_id: t.component,
      processor: t.processor,
      processor_type: t.type,
    });
    const counter = (
      name: string,
      help: string,
      extra: string[],
      fill: (c: Counter<string>, t: ProcessorTotals, l: Record<string, string>) => void,
    ): void => {
      new Counter({
        name,
        help,
        labelNames: [...labelNames, ...extra],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const t of all.values()) fill(this, t, labelsOf(t));
        },
      });
    };
    counter('sluice_processor_in_events_total', 'Readings handed to a processor.', [], (c, t, l) =>
      c.inc(l, t.in),
    );
    counter('sluice_processor_out_events_total', 'Readings a processor passed on.', [], (c, t, l) =>
      c.inc(l, t.out),
    );
    counter(
      'sluice_processor_dropped_events_total',
      'Readings a processor dropped, by reason.',
      ['reason'],
      (c, t, l) => {
        for (const [reason, n] of Object.entries(t.dropped)) c.inc({ ...l, reason }, n);
      },
    );
    counter(
      'sluice_processor_errors_total',
      'Readings a processor could not handle (kept or dropped by its on_error), by reason.',
      ['reason'],
      (c, t, l) => {
        for (const [reason, n] of Object.entries(t.errors)) c.inc({ ...l, reason }, n);
      },
    );
  }

  /**
   * The metrics of one processor. A chain rebuilt under the same component and label (a config reload)
   * keeps counting into the same totals, as components do.
   */
  forProcessor(kind: ComponentKind, component: string, processor: string, type: string): ProcessorMetrics {
    const key = `${kind}/${component}/${processor}`;
    let t = this.processors.get(key);
    if (!t || t.type !== type) {
      t = { kind, component, processor, type, in: 0, out: 0, dropped: {}, errors: {} };
      this.processors.set(key, t);
    }
    const totals = t;
    return {
      in: (n) => {
        totals.in += n;
      },
      out: (n) => {
        totals.out += n;
      },
      dropped: (n, reason) => {
        totals.dropped[reason] = (totals.dropped[reason] ?? 0) + n;
      },
      error: (reason) => {
        totals.errors[reason] = (totals.errors[reason] ?? 0) + 1;
      },
    };
  }

  /** Totals per processor, in the order their chains were built. */
  processorTotals(): ProcessorTotals[] {
    return [...this.processors.values()].map((t) => ({
      ...t,
      dropped: { ...t.dropped },
      errors: { ...t.errors },
    }));
  }

  /** Totals per component, sources first, in the order they registered. */
  componentTotals(): ComponentTotals[] {
    return [...this.totals.values()].map((t) => ({ ...t }));
  }

  /** The last errors counted by any component, oldest first. */
  recentErrors(): ErrorEvent[] {
    return [...this.lastErrors];
  }

  /**
   * Process metrics (RSS, CPU, heap, GC, event-loop lag as `nodejs_eventloop_lag_seconds` and the
   * `nodejs_eventloop_lag_{min,max,mean,p50,p90,p99}_seconds` of the interval since the last scrape).
   * Called by the HTTP server, not the constructor: each call starts an event-loop delay monitor that runs
   * for the life of the process, which tests creating many gateways in one process do not need.
   */
  enableProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** Queue depth, bytes, drops, commits and per-sink lag, read from the queue at scrape time. */
  watchQueue(queue: Queue): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, pick: (q: Queue) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(pick(queue));
        },
      });
    };
    // Totals the queue keeps itself are exported as counters (so `rate()` works) set at scrape time.
    const total = (name: string, help: string, pick: (q: Queue) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(pick(queue));
        },
      });
    };
    gauge('sluice_queue_depth_events', 'Readings held in the queue.', (q) => q.stats().depth);
    gauge('sluice_queue_bytes', 'Encoded bytes held in the queue.', (q) => q.stats().bytes);
    gauge('sluice_queue_max_bytes', 'Configured queue.max_bytes.', (q) => q.options.maxBytes);
    gauge('sluice_queue_last_sequence', 'Highest sequence number assigned.', (q) => q.lastSeq);
    total(
      'sluice_queue_dropped_events_total',
      'Readings dropped by on_full: drop_oldest since the queue was created.',
      (q) => q.stats().dropped,
    );
    total(
      'sluice_queue_rejected_events_total',
      'Readings refused by on_full: reject_new since start.',
      (q) => q.stats().rejected,
    );
    total(
      'sluice_queue_commits_total',
      'Flushed queue transactions (group commits) since start.',
      (q) => q.stats().commits,
    );
    gauge(
      'sluice_queue_commit_inline',
      "1 while commits wait for their fsync on the event loop, 0 while LMDB's write thread does (queue.commit_mode).",
      (q) => (q.stats().commitMode === 'inline' ? 1 : 0),
    );
    total(
      'sluice_queue_commit_mode_fallbacks_total',
      'Times commit_mode auto moved commits off the event loop because fsyncs were slow, since start.',
      (q) => q.stats().commitModeFallbacks,
    );
    total(
      'sluice_queue_dead_letters_total',
      'Readings parked as dead letters since the queue was created.',
      (q) => q.stats().deadLetters,
    );
    type CursorPick = (c: ReturnType<Queue['cursorStats']>) => number;
    const perSink = (name: string, help: string, pick: CursorPick, counter = false): void => {
      const collect = function (this: Gauge<string> | Counter<string>): void {
        this.reset();
        for (const c of queue.stats().cursors) this.inc({ sink: c.name }, pick(c));
      };
      const config = { name, help, labelNames: ['sink'], registers, collect };
      if (counter) new Counter(config);
      else new Gauge(config);
    };
    perSink('sluice_sink_lag_events', 'Readings a sink has not yet acknowledged.', (c) => c.lag);
    perSink('sluice_sink_oldest_unacked_age_seconds', 'Age of the oldest unacknowledged reading.', (c) =>
      c.oldestUnackedAgeMs === null ? 0 : c.oldestUnackedAgeMs / 1000,
    );
    perSink(
      'sluice_sink_dropped_events_total',
      'Readings dropped before this sink delivered them.',
      (c) => c.dropped,
      true,
    );
  }
}
