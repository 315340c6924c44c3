// What the config tests share: the message of the ConfigError a config text is refused with.
import { ConfigError, parseConfig } from '../../gateway/config/load.js';

/** The ConfigError message `text` is refused with; throws if it is accepted or fails otherwise. */
export function problems(text: string): string {
  try {
    parseConfig(text, 'test.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}
