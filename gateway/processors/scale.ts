// `scale`: a linear map of numeric values (`value * factor + offset`, raw counts to physical units) and/or a
// unit conversion from the units table (units.ts: degF -> degC, Pa -> hPa), setting `unit`.
import { z } from 'zod';
import type { Reading } from '../reading.js';
import { converter, isUnit, UNIT_NAMES } from './units.js';
import {
  ProcessorError,
  processorCommon,
  type Processor,
  type ProcessorDefinition,
  changed,
} from './types.js';

const unitName = z
  .string()
  .min(1)
  .refine(isUnit, { message: `a unit of the table: ${UNIT_NAMES.join(', ')}` });

export const schema = z
  .strictObject({
    type: z.literal('scale'),
    ...processorCommon,
    factor: z.number().finite().default(1).describe('Multiplies the value (applied before `offset`).'),
    offset: z.number().finite().default(0).describe('Added after `factor`.'),
    unit: z
      .string()
      .min(1)
      .optional()
      .describe('The unit the linear map gives (sets `unit`); not with `convert`.'),
    convert: z
      .strictObject({
        to: unitName.describe('Target unit (`degC`, `hPa`, ...); a reading already in it is left as is.'),
        from: unitName
          .optional()
          .describe(
            "The value's unit when the reading has none; a reading in another unit is an error (`unit_mismatch`).",
          ),
      })
      .optional()
      .describe('Unit conversion after the linear map, from the reading’s unit (or `from`) to `to`.'),
    metrics: z
      .array(z.string().min(1))
      .optional()
      .describe('Only readings of these metrics (exact names); default every reading.'),
  })
  .refine((c) => !(c.unit !== undefined && c.convert !== undefined), {
    message: '`unit` and `convert` exclude each other: `convert.from` names the unit of the scaled value',
    path: ['unit'],
  })
  .refine(
    (c) => c.convert?.from === undefined || typeof converter(c.convert.from, c.convert.to) !== 'string',
    {
      message: '`convert.from` and `convert.to` must measure the same thing',
      path: ['convert'],
    },
  );

class Scale implements Processor {
  private readonly only: ReadonlySet<string> | undefined;
  private readonly converters = new Map<string, ((v: number) => number) | string>();

  constructor(private readonly config: z.output<typeof schema>) {
    this.only = config.metrics && new Set(config.metrics);
  }

  process<R extends Reading>(r: R): R {
    if (this.only && !this.only.has(r.metric)) return r;
    if (typeof r.value !== 'number')
      throw new ProcessorError('not_numeric', `value of ${r.metric} is a ${typeof r.value}, not a number`);
    let value = r.value * this.config.factor + this.config.offset;
    let unit = this.config.unit ?? r.unit;
    const convert = this.config.convert;
    if (convert && unit !== convert.to) {
      if (unit !== undefined && convert.from !== undefined && unit !== convert.from)
        throw new ProcessorError('unit_mismatch', `unit ${unit} is not ${convert.from}`);
      const from = unit ?? convert.from;
      if (from === undefined) throw new ProcessorError('no_unit', `${r.metric} has no unit to convert from`);
      value = this.convert(from, convert.to)(value);
      unit = convert.to;
    }
    if (!Number.isFinite(value)) throw new ProcessorError('not_finite', `${r.metric} scaled to ${value}`);
    return changed(r, unit === undefined ? { value } : { value, unit });
  }

  private convert(from: string, to: string): (v: number) => number {
    let c = this.converters.get(from);
    if (c === undefined) {
      c = converter(from, to);
      // Units come from devices: bound the cache so that a device inventing units cannot grow it.
      if (this.converters.size < 256) this.converters.set(from, c);
    }
    if (typeof c === 'string') throw new ProcessorError('unknown_unit', c);
    return c;
  }
}

export const scale: ProcessorDefinition<typeof schema> = {
  type: 'scale',
  description:
    'Linear scale and offset of numeric values, and unit conversion from a units table (degF -> degC, Pa -> hPa), setting `unit`. A non-numeric value is an error (`not_numeric`).',
  schema,
  sides: ['source', 'sink'],
  create: (config) => new Scale(config),
};
