// Config of the `file` sink: the directory, the file name prefix and when a file rolls. The single source of
// truth for its keys, defaults and `config docs` text; the config type is inferred from it.
import { z } from 'zod';
import { byteSize, componentName, durationMs, sinkCommon } from '../../config/common.js';

export const schema = z
  .strictObject({
    type: z.literal('file'),
    path: z.string().min(1).describe('Directory the files are written to (created if missing).'),
    prefix: componentName.default('readings').describe('First part of every file name.'),
    max_file_bytes: byteSize.default(64 * 1024 * 1024).describe('Roll the file once it reaches this size.'),
    max_file_readings: z
      .number()
      .int()
      .min(1)
      .default(1_000_000)
      .describe('Roll the file after this many readings.'),
    roll_interval_ms: durationMs
      .min(1)
      .default(60_000)
      .describe('Roll a file this long after it was opened.'),
    ...sinkCommon,
  })
  .describe('JSON-lines files in a local directory, rolled by size, count and time.');

export type FileSinkConfig = z.output<typeof schema>;
