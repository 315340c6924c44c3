// Options of the `nmea` driver.
import { z } from 'zod';

export const SENTENCES = ['GGA', 'RMC', 'VTG', 'GSA', 'GLL'] as const;

export const schema = z.strictObject({
  type: z.literal('nmea'),
  /** Reject sentences without `*hh` (counted as `missing_checksum`); false accepts them unchecked. */
  require_checksum: z.boolean().default(true),
  /** Sentences that produce readings; others are still checksum-verified and counted as frames. */
  sentences: z
    .array(z.enum(SENTENCES))
    .min(1)
    .default([...SENTENCES]),
  /**
   * Longest sentence read, `$` to checksum (the memory bound). NMEA 0183 caps a sentence at 82 characters
   * with CRLF; the default leaves room for receivers that exceed it. Sentences not read (proprietary ones
   * such as $PGLOR or $PMTKCHN, GSV, TXT) are checksum-verified without buffering, at any length
   * up to 16 KiB.
   */
  max_sentence_bytes: z.number().int().min(16).max(4096).default(128),
  /** Also emit position, speed and DOPs from sentences that flag the fix as invalid. */
  emit_invalid_fix: z.boolean().default(false),
  speed_unit: z.enum(['km/h', 'm/s', 'knots']).default('km/h'),
});

export type NmeaOptions = z.output<typeof schema>;
