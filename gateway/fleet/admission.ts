// Admission of a pushed bundle: whether it may queue for its turn (verified, meant for this gateway, not too
// large, above every version accepted, not one already known), and the record of every refusal as the last
// result. Nothing here touches the running pipeline; the agent (agent.ts) queues what is admitted.
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { FleetConfig } from '../config/bootstrap-schema.js';
import { mergePipeline, type LocalConfig } from '../config/bootstrap.js';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { SluiceError } from '../errors.js';
import { BundleRejected, checkBundle, verifyBundle, type VerifiedBundle } from './bundle.js';
import { lastResult } from './report.js';
import type { FleetStore, LastResult } from './store.js';

export interface Delivery {
  /** Channel name, reported as the result's origin. */
  readonly origin: string;
  /** A retained message replayed at subscribe: history, not a push; a stale one is ignored silently. */
  readonly replay?: boolean;
}

/** A bundle that passed every check, and the config it makes when merged over the local file. */
export interface Admitted {
  readonly bundle: VerifiedBundle;
  readonly config: Config;
}

export interface AdmissionOptions {
  /** Absent without a `fleet:` section: then every bundle is refused. */
  readonly store: FleetStore | undefined;
  readonly keys: ReadonlyMap<string, KeyObject> | undefined;
  readonly log: Logger;
  readonly now: () => number;
  /** The local config in force (a local reload replaces it). */
  local(): LocalConfig;
  /** Called when a rejection changed the last result. */
  publish(): void;
}

export class Admission {
  /** Highest version queued or applied in this run (the store's highest_version lags it until applied). */
  private accepted = 0;
  private acceptedDigest: string | undefined;

  constructor(private readonly o: AdmissionOptions) {}

  private get fleet(): FleetConfig | undefined {
    return this.o.local().fleet;
  }

  /** Size in bytes of the largest bundle accepted (fleet.max_bundle_bytes). */
  get maxBundleBytes(): number {
    return this.fleet?.max_bundle_bytes ?? Number.POSITIVE_INFINITY;
  }

  /** Records a bundle refused for its size alone, before any of it was decoded. */
  async rejectOversized(bytes: number, delivery: Delivery): Promise<LastResult | undefined> {
    const err = new BundleRejected(
      'too_large',
      `${bytes} bytes, above fleet.max_bundle_bytes (${this.maxBundleBytes})`,
    );
    return this.reject(err, undefined, delivery);
  }

  /** Verifies and checks a bundle: the bundle and its merged config, or the rejection (undefined: ignored). */
  async admit(text: string, delivery: Delivery): Promise<Admitted | LastResult | undefined> {
    const store = this.o.store;
    const fleet = this.fleet;
    if (!store || !fleet || !this.o.keys)
      throw new SluiceError('SLUICE_FLEET_REJECTED', 'this gateway has no fleet section');
    let bundle: VerifiedBundle | undefined;
    try {
      // Checked here too for callers other than the channels (which refuse before decoding anything).
      const bytes = Buffer.byteLength(text);
      if (bytes > fleet.max_bundle_bytes)
        throw new BundleRejected(
          'too_large',
          `${bytes} bytes, above fleet.max_bundle_bytes (${fleet.max_bundle_bytes})`,
        );
      bundle = verifyBundle(text, this.o.keys);
      const known = [store.state.good?.digest, store.state.pending?.digest, this.acceptedDigest];
      if (known.includes(bundle.digest)) {
        // The same bundle again, from another topic (a canary's own topic, then its group's): done already.
        this.o.log.debug({ version: bundle.payload.version, via: delivery.origin }, 'bundle already applied');
        return undefined;
      }
      const local = this.o.local();
      checkBundle(bundle, {
        gatewayId: local.config.gateway.id,
        labels: fleet.labels,
        // A bundle waiting for its turn counts as accepted: an older one could only be superseded by it.
        highestVersion: Math.max(store.state.highest_version, this.accepted),
        now: this.o.now(),
        maxClockSkewMs: fleet.max_clock_skew_ms,
      });
      const config = mergePipeline(local, bundle.payload.config, `bundle v${bundle.payload.version}`);
      return { bundle, config };
    } catch (err) {
      if (!(err instanceof BundleRejected) && !(err instanceof ConfigError)) throw err;
      return this.reject(err, bundle, delivery);
    }
  }

  /**
   * Takes the admitted bundle's version for this run, at the moment it queues: 'claimed', undefined when
   * the same bundle (from a group topic too) was claimed while this one was being verified, or the recorded
   * rejection when a newer one was. Synchronous up to the claim, so that the caller queues the bundle in the
   * same step and the newest claim is always the one waiting.
   */
  claim(admitted: Admitted, delivery: Delivery): 'claimed' | Promise<LastResult | undefined> | undefined {
    const version = admitted.bundle.payload.version;
    if (admitted.bundle.digest === this.acceptedDigest) return undefined;
    const highest = Math.max(this.o.store?.state.highest_version ?? 0, this.accepted);
    if (version <= highest)
      return this.reject(
        new BundleRejected('stale_version', `version ${version} is not above ${highest}`, version),
        admitted.bundle,
        delivery,
      );
    this.accepted = version;
    this.acceptedDigest = admitted.bundle.digest;
    return 'claimed';
  }

  private async reject(
    err: BundleRejected | ConfigError,
    bundle: VerifiedBundle | undefined,
    delivery: Delivery,
  ): Promise<LastResult | undefined> {
    const store = this.o.store;
    if (!store) throw new SluiceError('SLUICE_INTERNAL', 'no fleet store');
    const reason = err instanceof BundleRejected ? err.reason : 'invalid_config';
    const version = bundle?.payload.version ?? (err instanceof BundleRejected ? err.version : undefined);
    if (delivery.replay && reason === 'stale_version') {
      this.o.log.debug({ version, via: delivery.origin }, 'retained bundle not above the applied one');
      return undefined;
    }
    this.o.log.warn({ version, reason, err: err.message, via: delivery.origin }, 'bundle rejected');
    const result = lastResult(this.o.now(), version ?? 0, 'rejected', delivery.origin, reason, err.message);
    await store.update((s) => ({ ...s, last_result: result }));
    this.o.publish();
    return result;
  }
}
