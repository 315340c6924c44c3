// The metrics spec every component follows (after Vector's component spec), as the contract a component
// sees: events and bytes in and out, errors by stage and kind, discarded events by reason. It sits on the
// core floor beside components.ts; observe/metrics.ts implements it (and is the only place metric names live).

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

/** Metrics that count nothing, for unit tests of components and for tools. */
export const noMetrics: ComponentMetrics = {
  received: () => undefined,
  sent: () => undefined,
  error: () => undefined,
  discarded: () => undefined,
};
