// Validates a driver's options against its schema: defaults applied, unknown keys rejected, result frozen.
import { z } from 'zod';
import { DriverOptionsError } from '../driver.js';

/** Parses `options` (raw or already parsed: parsing is idempotent) or throws a DriverOptionsError. */
export function parseOptions<S extends z.ZodType>(type: string, schema: S, options: unknown): z.output<S> {
  const result = schema.safeParse(options);
  if (!result.success) {
    const path = (result.error.issues[0]?.path ?? []).map(String).join('.');
    throw new DriverOptionsError(type, path, `driver ${type}: ${z.prettifyError(result.error)}`);
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
