// Every processor type Sluice knows, in one explicit list (no registration by import side effects), and the
// schema of an ordered `processors:` list as sources and sinks take it.
//
// Where a chain runs (see chain.ts):
//   source side  in the source's ctx.ingest (runtime/gateway.ts), before the durable append: what is stored
//                is what was processed, and the device's acknowledgement still means "on disk". A reading
//                a processor drops is acknowledged too (it was handled) and counted as dropped by reason.
//   sink side    in the sink's runner (runtime/sink-runner.ts), on each batch read from the sink's cursor:
//                the sink gets the processed readings (with their queue seq, so ids are kept) and the
//                ledger (sink-ledger.ts) acks the cursor past dropped entries once everything kept before
//                them is committed upstream. Other sinks read the same stored copy unprocessed.
//
// A stateful sink-side processor that holds readings across batches (the windowed `aggregate`) plugs in
// like this:
//   1. One file here with its schema and `sides: ['sink']` (a source-side placement is refused at load:
//      on the source side a held reading would be acknowledged to the device before it is stored).
//   2. `process` returns Drop.of('held') for an input it keeps in a window; `heldFrom()` returns the
//      lowest queue seq of any input still held. The ledger never acks the cursor at or past it, so after
//      a crash every held input is read again from the queue and the window is rebuilt.
//   3. `reset()` forgets the windows: the runner calls it when it rewinds to the durable cursor after a
//      sink failure, and the replay rebuilds them (a restart does the same from an empty state).
//   4. It emits a closed window through `drain()` (after a reading, or after the runner's idle `tick(now)`),
//      with the seq of its last input, `firstSeq` of its first (the ledger keeps the cursor below it until
//      the sink commits the window) and its own stable `id`. Outputs go out in ascending seq (a window
//      waits while an open window's last input is older), since sinks skip seqs they already hold.
//   5. `resume(committedThrough)`: the runner persists the highest seq the sink committed and passes it at
//      start and after a rewind, so a window rebuilt from a partly acked queue is not sent again partial.
// aggregate.ts is that processor; its header says how lateness stays deterministic (queue arrival time).
import { z } from 'zod';
import { aggregate } from './aggregate.js';
import { deadband } from './deadband.js';
import { downsample } from './downsample.js';
import { enrich } from './enrich.js';
import { filter } from './filter.js';
import { rename } from './rename.js';
import { scale } from './scale.js';
import { tag } from './tag.js';
import type { ProcessorSide } from './types.js';

export const processors = [filter, rename, tag, enrich, scale, deadband, downsample, aggregate] as const;

type SchemasOf<T extends readonly { schema: unknown }[]> = { -readonly [K in keyof T]: T[K]['schema'] };
function schemasOf<T extends readonly { schema: unknown }[]>(defs: T): SchemasOf<T> {
  return defs.map((d) => d.schema) as SchemasOf<T>;
}

export const processorSchema = z.discriminatedUnion('type', schemasOf(processors));
export type ProcessorConfig = z.output<typeof processorSchema>;

/** The `processors:` option of a source or a sink: processors run in list order. */
export function processorList(side: ProcessorSide): z.ZodDefault<z.ZodArray<typeof processorSchema>> {
  const where =
    side === 'source'
      ? 'before the durable append: what is stored (and acknowledged to the device) is what they leave; a dropped reading is acknowledged and counted'
      : "on each batch read from this sink's cursor: this sink gets what they leave, the queue keeps the raw readings for other sinks, and dropped entries are acked once everything before them is committed";
  return z
    .array(processorSchema)
    .superRefine((list, ctx) => {
      const labels = new Set<string>();
      list.forEach((p, i) => {
        // Labels name the metrics of each processor, so two of one list may not share one.
        const label = p.name ?? `${i + 1}-${p.type}`;
        if (labels.has(label))
          ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `another processor is named ${label}` });
        labels.add(label);
        const def = processors.find((d) => d.type === p.type);
        if (def && !def.sides.includes(side))
          ctx.addIssue({
            code: 'custom',
            path: [i, 'type'],
            message: `${p.type} runs only on the ${def.sides.join(' or ')} side`,
          });
        // The registry entry matching p.type takes exactly this config (as in chain.ts).
        const check = def?.misplaced as
          ((c: ProcessorConfig, s: ProcessorSide) => string | undefined) | undefined;
        const why = check?.(p, side);
        if (why !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'mode'], message: why });
      });
    })
    .default([])
    .describe(`Processors run in order ${where}. See "Processors" for each type.`);
}
