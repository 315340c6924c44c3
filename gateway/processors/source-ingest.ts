// The source side of processing: a source's readings through its chain, then the durable append. What
// the chain drops resolves as handled (the device gets its acknowledgement); a failed append forgets the
// chain's state, so that what the device re-sends is judged afresh, never against values not stored.
import type { AppendOptions, IngestResult } from '../components.js';
import type { Reading } from '../reading.js';
import type { ProcessorChain } from './chain.js';

export type Append = (readings: readonly Reading[], options?: AppendOptions) => Promise<IngestResult>;

/**
 * `append` behind `chain`. `lastSeq` gives the queue's last sequence, for the result of an ingest that
 * stored nothing (`firstSeq` > `lastSeq`: no sequence assigned). `dropped` counts what the chain dropped.
 */
export function chainedIngest(
  chain: ProcessorChain,
  append: Append,
  lastSeq: () => number,
  dropped: (events: number) => void,
): Append {
  return async (readings, options) => {
    const { kept, dropped: n } = chain.run(readings);
    if (n > 0) dropped(n);
    // Nothing left to store, and no source state to move on with it (an SQL import's last value must
    // commit even when its rows were all dropped, or a restart would import them again).
    if (kept.length === 0 && options?.sourceState === undefined)
      return { firstSeq: lastSeq() + 1, lastSeq: lastSeq(), bytes: 0 };
    try {
      return await append(kept, options);
    } catch (err) {
      // A deadband that kept the value of a reading that was not stored would drop the device's re-send
      // of it as "in band", and acknowledge it: lost. Forgetting is what a restart does too (documented).
      chain.reset();
      throw err;
    }
  };
}
