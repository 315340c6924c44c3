// kcat as the independent Kafka client of the tests: it reads back what Sluice (KafkaJS) wrote, and
// writes load for benchmarks, so a bug shared by our producer and our reader cannot hide itself.
import { z } from 'zod';

import { run } from './process.js';

export interface KcatMessage {
  topic: string;
  partition: number;
  offset: number;
  /** Milliseconds since the epoch, as stamped by the producer (CreateTime). */
  timestamp: number;
  key: string | null;
  value: string | null;
  /** In wire order; a name may repeat and a value may be null, as Kafka allows. */
  headers: Array<[string, string | null]>;
}

export interface KcatConsumeOptions {
  bootstrap: readonly string[];
  topic: string;
  /** Default: every partition. */
  partition?: number;
  /** Default 'beginning'; a number is an absolute offset. */
  offset?: 'beginning' | 'end' | number;
  /** Stop after this many messages instead of at the end of every partition. */
  count?: number;
  timeoutMs?: number;
  /** Extra librdkafka properties (-X). */
  config?: Readonly<Record<string, string>>;
}

// kcat 1.7's -J envelope, one JSON object per line: newlines and any other byte inside keys and
// values arrive escaped, which no -f delimiter can promise. Headers come as [name, value, ...].
const envelope = z.object({
  topic: z.string(),
  partition: z.number().int(),
  offset: z.number().int(),
  ts: z.number().int(),
  headers: z.array(z.string().nullable()).optional(),
  key: z.string().nullable(),
  payload: z.string().nullable(),
});

function configArgs(config: Readonly<Record<string, string>> | undefined): string[] {
  return Object.entries(config ?? {}).flatMap(([k, v]) => ['-X', `${k}=${v}`]);
}

function toMessage(line: string): KcatMessage {
  const e = envelope.parse(JSON.parse(line));
  const flat = e.headers ?? [];
  const headers: Array<[string, string | null]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) headers.push([flat[i] ?? '', flat[i + 1] ?? null]);
  return {
    topic: e.topic,
    partition: e.partition,
    offset: e.offset,
    timestamp: e.ts,
    key: e.key,
    value: e.payload,
    headers,
  };
}

/**
 * Reads a topic from the given offset to its current end (kcat -e) and returns the messages sorted
 * by partition, then offset. Keys and values are decoded as UTF-8 text.
 */
export async function kcatConsume(options: KcatConsumeOptions): Promise<KcatMessage[]> {
  const args = ['-C', '-J', '-e', '-b', options.bootstrap.join(','), '-t', options.topic];
  args.push('-o', String(options.offset ?? 'beginning'));
  if (options.partition !== undefined) args.push('-p', String(options.partition));
  if (options.count !== undefined) args.push('-c', String(options.count));
  args.push(...configArgs(options.config));
  const result = await run('kcat', args, { timeoutMs: options.timeoutMs ?? 30_000 });
  if (result.code !== 0) {
    throw new Error(`kcat ${args.join(' ')} exited with ${result.code ?? result.signal}:\n${result.stderr}`);
  }
  return result.stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map(toMessage)
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

export interface KcatProduceOptions {
  bootstrap: readonly string[];
  topic: string;
  /** Default: librdkafka's partitioner (by key hash, random when keyless). */
  partition?: number;
  /**
   * Sent as `key U+001F value U+001E` (ASCII unit and record separators), so keys and values may
   * hold newlines and tabs, just not those two control characters.
   */
  messages?: Iterable<{ key?: string; value: string }> | AsyncIterable<{ key?: string; value: string }>;
  /** Alternatively, a file kcat reads itself (-l), split by `delimiter` and `keyDelimiter`. */
  file?: string;
  delimiter?: string;
  keyDelimiter?: string;
  headers?: Readonly<Record<string, string>>;
  /** Extra librdkafka properties (-X), e.g. { 'linger.ms': '5', 'compression.codec': 'lz4' }. */
  config?: Readonly<Record<string, string>>;
  timeoutMs?: number;
}

const UNIT_SEPARATOR = '\x1f';
const RECORD_SEPARATOR = '\x1e';
const hasSeparator = (s: string | undefined): boolean =>
  s !== undefined && (s.includes(UNIT_SEPARATOR) || s.includes(RECORD_SEPARATOR));

async function* encode(
  messages: NonNullable<KcatProduceOptions['messages']>,
): AsyncGenerator<string, void, undefined> {
  for await (const m of messages) {
    if (hasSeparator(m.key) || hasSeparator(m.value)) {
      throw new Error('kcatProduce: a key or value holds U+001E or U+001F; use file mode');
    }
    yield m.key === undefined
      ? `${m.value}${RECORD_SEPARATOR}`
      : `${m.key}${UNIT_SEPARATOR}${m.value}${RECORD_SEPARATOR}`;
  }
}

/**
 * Produces with kcat -P (acks=all, librdkafka's default) and resolves once every message is
 * acknowledged; kcat exits non-zero if any delivery failed. Returns the wall time, for benchmarks.
 */
export async function kcatProduce(options: KcatProduceOptions): Promise<{ elapsedMs: number }> {
  const args = ['-P', '-b', options.bootstrap.join(','), '-t', options.topic];
  if (options.partition !== undefined) args.push('-p', String(options.partition));
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}=${value}`);
  args.push(...configArgs(options.config));
  let input: AsyncIterable<string> | undefined;
  if (options.file !== undefined) {
    args.push('-D', options.delimiter ?? '\\n');
    if (options.keyDelimiter !== undefined) args.push('-K', options.keyDelimiter);
    args.push('-l', options.file);
  } else if (options.messages !== undefined) {
    args.push('-D', '\\x1e', '-K', '\\x1f');
    input = encode(options.messages);
  } else {
    throw new Error('kcatProduce: give messages or file');
  }
  const started = performance.now();
  const result = await run('kcat', args, { input, timeoutMs: options.timeoutMs ?? 120_000 });
  if (result.code !== 0) {
    throw new Error(`kcat ${args.join(' ')} exited with ${result.code ?? result.signal}:\n${result.stderr}`);
  }
  return { elapsedMs: performance.now() - started };
}
