// `sluice fleet push`: publishes a signed bundle (retained) to its target, optionally as a staged rollout:
// the canaries first, each must report the version applied (committed after its health gate), then the
// rest. Stops at the first canary that rejects it, rolls it back or does not answer in time.
import { readFileSync } from 'node:fs';
import { parse, type Command } from '../args.js';
import { SluiceError, errorMessage } from '../../errors.js';
import { envelopeSchema, payloadSchema, type BundlePayload } from '../../fleet/bundle.js';
import { fleetTopics } from '../../fleet/mqtt-channel.js';
import { BROKER_HELP, FleetView, brokerOptions, type GatewaySeen } from './broker.js';

export interface GatewayOutcome {
  readonly gateway: string;
  readonly outcome: 'applied' | 'rejected' | 'rolled_back' | 'timeout';
  readonly reason?: string | undefined;
  readonly message?: string | undefined;
}

export interface PushResult {
  readonly ok: boolean;
  readonly version: number;
  /** Set when a canary failed: nothing was published to the rest. */
  readonly stoppedAtCanary?: string;
  readonly results: readonly GatewayOutcome[];
}

/** The payload of a bundle, read without verifying it (the gateways do that). */
export function peek(bundle: string): BundlePayload {
  try {
    const env = envelopeSchema.parse(JSON.parse(bundle));
    return payloadSchema.parse(JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')));
  } catch (err) {
    throw new SluiceError('SLUICE_USAGE', `not a bundle: ${errorMessage(err)}`, {
      hint: '`sluice fleet sign` makes one',
    });
  }
}

/** What a gateway reported about `version`, if anything yet. */
export function outcomeFor(
  id: string,
  seen: GatewaySeen | undefined,
  version: number,
): GatewayOutcome | undefined {
  const s = seen?.status;
  if (!s) return undefined;
  const r = s.last_result;
  if (r?.version === version && (r.outcome === 'rejected' || r.outcome === 'rolled_back'))
    return { gateway: id, outcome: r.outcome, reason: r.reason, message: r.message };
  if (s.applied_version >= version && s.state !== 'verifying') return { gateway: id, outcome: 'applied' };
  return undefined;
}

export async function push(
  view: FleetView,
  bundle: string,
  options: { canaries?: readonly string[]; timeoutMs: number; say?: (line: string) => void },
): Promise<PushResult> {
  const say = options.say ?? (() => undefined);
  const p = peek(bundle);
  const v = p.version;
  const canaries = options.canaries ?? [];
  // Every retained status first, so that a label target resolves to all the gateways known.
  if (p.target.labels.length > 0) await view.settle(300);
  const wait = async (ids: readonly string[]): Promise<GatewayOutcome[]> =>
    Promise.all(
      ids.map(
        async (id) =>
          (await view.waitFor(() => outcomeFor(id, view.gateways.get(id), v), options.timeoutMs)) ?? {
            gateway: id,
            outcome: 'timeout' as const,
          },
      ),
    );
  const results: GatewayOutcome[] = [];
  if (canaries.length > 0) {
    say(`v${v}: canaries ${canaries.join(', ')}`);
    for (const id of canaries) await view.publishRetained(fleetTopics.gatewayConfig(view.prefix, id), bundle);
    const got = await wait(canaries);
    results.push(...got);
    const failed = got.find((r) => r.outcome !== 'applied');
    if (failed) return { ok: false, version: v, stoppedAtCanary: failed.gateway, results };
  }
  const named = p.target.gateways.filter((id) => !canaries.includes(id));
  for (const id of named) await view.publishRetained(fleetTopics.gatewayConfig(view.prefix, id), bundle);
  const labels = p.target.labels;
  const first = labels[0];
  // One group topic carries it: a gateway holding the first label checks the others itself.
  if (first !== undefined) await view.publishRetained(fleetTopics.groupConfig(view.prefix, first), bundle);
  const selected = [...view.gateways]
    .filter(([, g]) => labels.length > 0 && labels.every((l) => g.status?.labels.includes(l)))
    .map(([id]) => id);
  const rest = [...new Set([...named, ...selected])].filter((id) => !canaries.includes(id));
  say(`v${v}: ${rest.length} more gateway(s)${rest.length ? `: ${rest.join(', ')}` : ''}`);
  results.push(...(await wait(rest)));
  return { ok: results.every((r) => r.outcome === 'applied'), version: v, results };
}

export const fleetPushCommand: Command = {
  name: 'fleet push',
  usage: '--broker URL [--canary ID]... [--timeout-ms MS] BUNDLE.json',
  summary: 'Publish a signed bundle to its target; with --canary, a staged rollout.',
  help: `The bundle is published retained to its gateways' topics and to its first label's group topic.
  --canary ID     publish to these gateways first; go on only once each reports it applied (repeatable)
  --timeout-ms MS how long to wait for each stage (default 120000)
${BROKER_HELP}
Exit code 0 when every gateway targeted (named, or seen on the broker with the labels) applied it.`,
  async run(args) {
    const usage = 'sluice fleet push --broker URL [--canary ID]... BUNDLE.json';
    const { values, positionals } = parse(
      args,
      { ...brokerOptions, canary: { type: 'string', multiple: true }, 'timeout-ms': { type: 'string' } },
      usage,
    );
    const file = positionals[0];
    if (!file) throw new SluiceError('SLUICE_USAGE', 'push needs a bundle file', { hint: usage });
    let bundle: string;
    try {
      bundle = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new SluiceError('SLUICE_CONFIG_READ', `cannot read ${file}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const view = await FleetView.connect(values);
    try {
      const r = await push(view, bundle, {
        canaries: values.canary ?? [],
        timeoutMs: Number(values['timeout-ms'] ?? 120_000),
        say: (line) => process.stdout.write(`${line}\n`),
      });
      for (const g of r.results)
        process.stdout.write(
          `${g.gateway.padEnd(24)} ${g.outcome.padEnd(12)} ${g.reason ?? ''}${g.message ? `: ${g.message}` : ''}\n`,
        );
      if (r.stoppedAtCanary)
        process.stdout.write(`stopped: canary ${r.stoppedAtCanary} did not apply v${r.version}\n`);
      return r.ok ? 0 : 1;
    } finally {
      await view.close();
    }
  },
};
