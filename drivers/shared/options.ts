// Validates a driver's options against its schema: defaults applied, unknown keys rejected, result frozen.
import { z } from 'zod';
import { SluiceError } from '../../gateway/errors.js';

/** Parses `options` (raw or already parsed: parsing is idempotent) or throws SLUICE_CONFIG_INVALID. */
export function parseOptions<S extends z.ZodType>(type: string, schema: S, options: unknown): z.output<S> {
  const result = schema.safeParse(options);
  if (!result.success) {
    throw new SluiceError('SLUICE_CONFIG_INVALID', `driver ${type}: ${z.prettifyError(result.error)}`, {
      hint: `fix the options of the ${type} driver`,
    });
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
