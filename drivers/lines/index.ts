// The `lines` driver: line-delimited text from a serial sensor (JSON, CSV, key=value or a regex) to readings.
import type { z } from 'zod';
import type { Driver, DriverError, DriverOutput, DriverReading } from '../driver.js';
import { LineSplitter } from '../shared/line-splitter.js';
import { parseOptions } from '../shared/options.js';
import { createParser } from './formats.js';
import { schema } from './schema.js';

export { schema } from './schema.js';
export type { LinesOptions } from './schema.js';

export const type = 'lines';
export const description = 'Line-delimited text: JSON objects, CSV, key=value pairs or regex named groups.';

export function create(options: z.input<typeof schema>): Driver {
  const opts = parseOptions(type, schema, options);
  const splitter = new LineSplitter(new TextEncoder().encode(opts.delimiter), opts.max_line_bytes);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parser = createParser(opts.format, opts);

  return {
    push(chunk: Uint8Array): DriverOutput {
      const readings: DriverReading[] = [];
      const errors: DriverError[] = [];
      let frames = 0;
      for (const event of splitter.push(chunk)) {
        if (event.kind === 'too_long') {
          errors.push({ reason: 'line_too_long', detail: `line over ${opts.max_line_bytes} bytes skipped` });
          continue;
        }
        let line: string;
        try {
          line = decoder.decode(event.bytes);
        } catch {
          errors.push({ reason: 'bad_encoding', detail: 'line is not valid UTF-8' });
          continue;
        }
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line.trim() === '') continue;
        const result = parser.parse(line);
        readings.push(...result.readings);
        errors.push(...result.errors);
        if (result.valid) frames++;
      }
      return { readings, errors, frames };
    },
    reset(): void {
      // A learned CSV header is kept: devices print it once at boot, not on every port reopen.
      splitter.reset();
    },
  };
}
