// `filter`: keeps the readings for which a CEL expression (the Common Expression Language of Kubernetes,
// Envoy and Telegraf, through @bufbuild/cel) is true, drops the others. Compiled once when the chain is built.
import {
  CelScalar,
  celEnv,
  isCelError,
  mapType,
  parse,
  plan,
  type CelInput,
  type CelResult,
} from '@bufbuild/cel';
import { z } from 'zod';
import { SluiceError } from '../errors.js';
import type { Reading } from '../reading.js';
import { Drop, ProcessorError, processorCommon, type Processor, type ProcessorDefinition } from './types.js';

/** The variables an expression sees; `unit` is '' and `tags` empty when the reading has none. */
const VARIABLES = {
  device: CelScalar.STRING,
  metric: CelScalar.STRING,
  value: CelScalar.DYN,
  unit: CelScalar.STRING,
  tags: mapType(CelScalar.STRING, CelScalar.STRING),
  ts: CelScalar.INT,
  source: CelScalar.STRING,
} as const;
const env = celEnv({ variables: VARIABLES });

/**
 * CEL's type denotations (`type(value) == double`): cel-es resolves these names itself when it plans, so
 * they are names an expression may use besides the variables.
 */
const TYPE_NAMES: ReadonlySet<string> = new Set([
  'int',
  'uint',
  'double',
  'string',
  'bool',
  'bytes',
  'list',
  'map',
  'null_type',
  'type',
]);

type Expr = ReturnType<typeof parse>['expr'];
type Program = ReturnType<typeof plan<typeof VARIABLES>>;

/** Where in the expression a compile problem is, and what it is. */
export interface CelProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** The line and column (1-based) of a character offset in `src`. */
function position(src: string, offset: number): { line: number; column: number } {
  const before = src.slice(0, Math.max(0, offset));
  const nl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: before.length - nl };
}

/**
 * The identifiers that are neither a declared variable nor bound by a macro (`exists(x, ...)`): cel-es has
 * no public type checker, and an unknown name would otherwise fail only at run time, on every reading.
 */
function unknownIdents(e: Expr, bound: ReadonlySet<string>, out: { id: bigint; name: string }[]): void {
  const k = e.exprKind;
  switch (k.case) {
    case 'identExpr':
      if (!(k.value.name in VARIABLES) && !TYPE_NAMES.has(k.value.name) && !bound.has(k.value.name))
        out.push({ id: e.id, name: k.value.name });
      return;
    case 'selectExpr':
      if (k.value.operand) unknownIdents(k.value.operand, bound, out);
      return;
    case 'callExpr':
      if (k.value.target) unknownIdents(k.value.target, bound, out);
      for (const a of k.value.args) unknownIdents(a, bound, out);
      return;
    case 'listExpr':
      for (const a of k.value.elements) unknownIdents(a, bound, out);
      return;
    case 'structExpr':
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === 'mapKey') unknownIdents(entry.keyKind.value, bound, out);
        if (entry.value) unknownIdents(entry.value, bound, out);
      }
      return;
    case 'comprehensionExpr': {
      const c = k.value;
      const inner = new Set([...bound, c.iterVar, c.iterVar2, c.accuVar].filter((v) => v !== ''));
      if (c.iterRange) unknownIdents(c.iterRange, bound, out);
      if (c.accuInit) unknownIdents(c.accuInit, bound, out);
      for (const part of [c.loopCondition, c.loopStep, c.result]) if (part) unknownIdents(part, inner, out);
      return;
    }
    default:
      return;
  }
}

/** Compiles `src`, or says where and why it does not compile. */
export function compileCel(src: string): { program: Program } | { problem: CelProblem } {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(src);
  } catch (err) {
    const loc = (err as { location?: { start?: { line?: number; column?: number } } }).location?.start;
    const raw = (err as { rawMessage?: string }).rawMessage;
    return {
      problem: {
        line: loc?.line ?? 1,
        column: loc?.column ?? 1,
        message: raw ?? (err instanceof Error ? err.message : String(err)),
      },
    };
  }
  const unknown: { id: bigint; name: string }[] = [];
  unknownIdents(parsed.expr, new Set(), unknown);
  const first = unknown[0];
  if (first) {
    const offset = parsed.sourceInfo?.positions[first.id.toString()] ?? 0;
    return {
      problem: {
        ...position(src, offset),
        message: `unknown name "${first.name}"; an expression sees ${Object.keys(VARIABLES).join(', ')} and the type names ${[...TYPE_NAMES].join(', ')}`,
      },
    };
  }
  try {
    return { program: plan(env, parsed) };
  } catch (err) {
    return { problem: { line: 1, column: 1, message: err instanceof Error ? err.message : String(err) } };
  }
}

const EMPTY_TAGS = new Map<string, string>();

/**
 * A value as CEL sees it: every number is a double (`21` in JSON included, so `type(value) == double` holds
 * for it; comparing with an int literal works too, arithmetic needs doubles: `value + 1` is a CEL type
 * error, `value + 1.0` is not), an object (a GPS fix) a map, an array a list.
 */
function celValue(v: unknown): CelInput {
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
  if (Array.isArray(v)) return v.map(celValue);
  if (typeof v === 'object') return new Map(Object.entries(v).map(([k, x]) => [k, celValue(x)]));
  return null;
}

export const schema = z.strictObject({
  type: z.literal('filter'),
  ...processorCommon,
  expr: z
    .string()
    .min(1)
    .superRefine((src, ctx) => {
      const compiled = compileCel(src);
      if ('problem' in compiled) {
        const p = compiled.problem;
        ctx.addIssue({
          code: 'custom',
          message: `CEL does not compile at line ${p.line}, column ${p.column} of the expression: ${p.message}`,
        });
      }
    })
    .describe(
      "CEL expression over `device`, `metric`, `value`, `unit`, `tags`, `ts` (ms, int) and `source`; readings for which it is true pass, e.g. `metric == 'temperature' && value > -40.0`. A number `value` is always a CEL double, even one written as an integer in JSON (`21`): comparisons accept `3` or `3.0`, arithmetic needs double literals (`value * 2.0`); `type(value) == double` tells numbers from strings (`string`), bools (`bool`) and objects (`map`). It must give a bool.",
    ),
});

type Activation = Parameters<Program>[0];

class Filter implements Processor {
  // One activation, refilled per reading: the program runs synchronously and keeps no reference to it,
  // so a reading costs no activation object (allocations per reading showed up as GC time in the bench).
  private readonly vars = {
    device: '',
    metric: '',
    value: null as CelInput,
    unit: '',
    tags: EMPTY_TAGS,
    ts: 0n,
    source: '',
  } satisfies Activation;

  constructor(private readonly program: Program) {}

  process<R extends Reading>(r: R): R | Drop {
    const v = this.vars;
    v.device = r.device;
    v.metric = r.metric;
    v.value = celValue(r.value);
    v.unit = r.unit ?? '';
    v.tags = r.tags ? new Map(Object.entries(r.tags)) : EMPTY_TAGS;
    v.ts = BigInt(Math.trunc(r.ts));
    v.source = r.source;
    const result: CelResult = this.program(v);
    if (isCelError(result)) throw new ProcessorError('eval_error', result.message);
    if (typeof result !== 'boolean')
      throw new ProcessorError('not_bool', `the expression gave ${typeof result}, not a bool`);
    return result ? r : Drop.of('filtered');
  }
}

export const filter: ProcessorDefinition<typeof schema> = {
  type: 'filter',
  description:
    'Keeps the readings for which a CEL expression is true and drops the others (counted as `filtered`).',
  schema,
  sides: ['source', 'sink'],
  create: (config) => {
    const compiled = compileCel(config.expr);
    // The schema compiled it already; only a config that skipped validation gets here.
    if ('problem' in compiled)
      throw new SluiceError('SLUICE_CONFIG_INVALID', `filter expression: ${compiled.problem.message}`);
    return new Filter(compiled.program);
  },
};
