// What happens to a device's PUBLISH before aedes acknowledges it, as named steps: authorize, map, skip a
// QoS 2 duplicate, append. Runs as aedes' authorizePublish hook, so that a PUBACK/PUBREC means "on disk".
import type { Aedes, Client, PublishPacket } from 'aedes';
import type { SourceContext } from '../../components.js';
import { SluiceError, refusedReading } from '../../errors.js';
import type { Reading } from '../../reading.js';
import type { IngestBatcher } from '../ingest-batcher.js';
import type { TopicMapper } from '../mqtt/mapping.js';
import type { Acl, Identity } from './acl.js';
import { isStoredQos2 } from './aedes-internals.js';

/**
 * Where a denied publish is diverted. MQTT 3.1.1 has no negative PUBACK; like Mosquitto 2.0 we acknowledge
 * and drop it, so a misconfigured device does not loop on reconnect-and-retransmit. aedes has no
 * "ack but drop" outcome, so the packet is re-addressed to a `$` topic that no `#`/`+` filter matches
 * ([MQTT-4.7.2-1], aedes lib/handlers/subscribe.js blockDollarSignTopics) and that nobody may subscribe to.
 */
export const DENIED_TOPIC = '$SLUICE/denied';

/** aedes' authorizePublish callback: no error lets aedes go on to acknowledge; an error drops the client. */
export type PublishDone = (err?: Error | null) => void;

export interface PublishSteps {
  readonly acl: Acl;
  readonly mapper: TopicMapper;
  readonly batcher: IngestBatcher;
  identityOf(client: Client): Identity | undefined;
  broker(): Aedes;
  context(): SourceContext;
  denied(reason: string, clientId: string | undefined, fields: Record<string, unknown>): void;
}

/** The readings of one message, and whom they are from. */
interface Mapped {
  readonly readings: Reading[];
  readonly device: string;
  readonly bytes: number;
}

/**
 * Runs before aedes acknowledges: aedes 1.2.0 lib/handlers/publish.js runs `publishActions =
 * [authorizePublish, enqueuePublish]` in series, and only enqueuePublish writes the QoS 1 PUBACK (`case 1:
 * write(client, new PubAck(packet), ...)`) or, for QoS 2, the PUBREC (after incomingStorePacket). So
 * calling `done` only after the append is flushed means a PUBACK/PUBREC implies "on disk".
 * `done(err)` makes aedes close the connection without any acknowledgement (lib/client.js nextBatch ->
 * 'error' -> _onError): that is the back-pressure path. test/sources/mqtt-broker-qos.test.ts proves both.
 */
export function handlePublish(
  steps: PublishSteps,
  client: Client | null,
  packet: PublishPacket,
  done: PublishDone,
): void {
  // aedes passes null only for Last Wills of clients of a dead broker instance (clustered persistence).
  const who = client === null ? undefined : steps.identityOf(client);
  if (client === null || who === undefined)
    return done(new SluiceError('SLUICE_AUTH', 'publish without an authenticated client'));
  if (!authorize(steps, who, client, packet)) return done(null);
  const mapped = map(steps, client, packet);
  if (mapped === undefined) return done(null);
  if (packet.qos === 0) {
    appendUnacknowledged(steps, mapped, client);
    return done(null);
  }
  if (packet.qos === 2) {
    skipQos2Duplicate(steps, client, packet).then(
      (duplicate) => (duplicate ? done(null) : append(steps, mapped, client, done)),
      (err: unknown) => done(err instanceof Error ? err : new SluiceError('SLUICE_INTERNAL', String(err))),
    );
    return;
  }
  append(steps, mapped, client, done);
}

/** Step 1: may this client publish here? A denied message is diverted (acknowledged, dropped), not refused. */
function authorize(steps: PublishSteps, who: Identity, client: Client, packet: PublishPacket): boolean {
  if (steps.acl.canPublish(who, packet.topic)) return true;
  steps.denied('publish_not_authorized', client.id, { topic: packet.topic });
  packet.topic = DENIED_TOPIC;
  packet.retain = false;
  return false;
}

/**
 * Step 2: the message's readings, or undefined when there are none to store: its topic matches no rule
 * (`unmatched: pass`), or its payload is rejected (still delivered and acknowledged: MQTT 3.1.1 cannot say
 * "bad payload", and the stream must go on).
 */
function map(steps: PublishSteps, client: Client, packet: PublishPacket): Mapped | undefined {
  const result = steps.mapper.map(packet.topic, packet.payload as Buffer, client.id);
  if (result.kind === 'unmatched') return undefined;
  if (result.kind === 'rejected') {
    steps.context().reject(result.reason, result.device, result.detail);
    return undefined;
  }
  return { readings: result.readings, device: result.device, bytes: packet.payload.length };
}

/**
 * Step 3 (QoS 2): a retransmitted PUBLISH whose first copy was stored gets only its PUBREC (aedes'
 * enqueuePublish dedup); only first copies are appended, for exactly once into the queue.
 */
function skipQos2Duplicate(steps: PublishSteps, client: Client, packet: PublishPacket): Promise<boolean> {
  return isStoredQos2(steps.broker(), client, packet);
}

/** Step 4 (QoS 0): appended with nobody to tell; a failure is counted as discarded. */
function appendUnacknowledged(steps: PublishSteps, mapped: Mapped, client: Client): void {
  const ctx = steps.context();
  received(ctx, mapped);
  steps.batcher.add(
    mapped.readings,
    (err) => {
      if (err === undefined) return;
      ctx.metrics.discarded(
        mapped.readings.length,
        err.code === 'SLUICE_QUEUE_FULL' ? 'queue_full' : 'ingest_error',
      );
    },
    client.id,
  );
}

/** Step 4 (QoS 1/2): the acknowledgement waits for the append; what it failed with decides whether it comes. */
function append(steps: PublishSteps, mapped: Mapped, client: Client, done: PublishDone): void {
  const ctx = steps.context();
  received(ctx, mapped);
  steps.batcher.add(
    mapped.readings,
    (err) => {
      if (err === undefined) return done(null);
      const refused = refusedReading(err);
      if (refused !== undefined) {
        // Too large for the queue or invalid: a bad message, acknowledged so that it is not re-sent.
        ctx.reject(refused, mapped.device, err.message);
        return done(null);
      }
      // Queue full (reject_new), a disk error, a stop or a bug: withhold the acknowledgement. aedes drops the connection;
      // the client re-sends the message (DUP) when it reconnects. A turn later, so that the PUBACKs of
      // this client's messages that were stored (mqtt-packet writes them corked until the next tick) are
      // on the socket before aedes destroys it.
      setImmediate(() => done(err));
    },
    client.id,
  );
}

/** In: what arrived from devices. Out (to the queue) is counted by ctx.ingest itself. */
function received(ctx: SourceContext, mapped: Mapped): void {
  ctx.metrics.received(mapped.readings.length, mapped.bytes);
}
