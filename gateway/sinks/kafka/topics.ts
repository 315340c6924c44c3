// Topic and key templates: `sensors.{metric}` expanded per reading, checked against Kafka's topic name rules
// (kafka clients/.../internals/Topic.java: legal chars [a-zA-Z0-9._-], at most 249, not "." or "..").
import type { Reading } from '../../reading.js';

/** The reading fields a template may name. */
export const TEMPLATE_FIELDS = ['device', 'metric', 'source'] as const;
export type TemplateField = (typeof TEMPLATE_FIELDS)[number];

const MAX_TOPIC_LENGTH = 249;
const LEGAL_TOPIC = /^[a-zA-Z0-9._-]+$/;
const PLACEHOLDER = /\{([^{}]*)\}/g;

export interface Template {
  readonly text: string;
  /** True when the template has no placeholders: every reading gets the same string. */
  readonly fixed: boolean;
  expand(r: Reading): string;
}

/** Why `name` is not a legal Kafka topic name, or undefined when it is. */
export function topicProblem(name: string): string | undefined {
  if (name.length === 0) return 'a topic name cannot be empty';
  if (name === '.' || name === '..') return `a topic cannot be named "${name}"`;
  if (name.length > MAX_TOPIC_LENGTH)
    return `topic name is ${name.length} characters, over Kafka's ${MAX_TOPIC_LENGTH}`;
  if (!LEGAL_TOPIC.test(name)) {
    return `topic name ${JSON.stringify(name)} has characters outside [a-zA-Z0-9._-]`;
  }
  return undefined;
}

/**
 * Problems with a template's text itself: unknown placeholders, stray braces and, for the literal parts of a
 * topic template, characters no expansion could make legal. Empty when it is fine.
 */
export function templateProblems(text: string, kind: 'topic' | 'key'): string[] {
  const problems: string[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) {
    const field = m[1] ?? '';
    if (!(TEMPLATE_FIELDS as readonly string[]).includes(field)) {
      problems.push(`unknown placeholder {${field}}; use ${TEMPLATE_FIELDS.map((f) => `{${f}}`).join(', ')}`);
    }
  }
  const literal = text.replace(PLACEHOLDER, '');
  if (/[{}]/.test(literal)) problems.push('unbalanced "{" or "}"');
  if (kind === 'topic') {
    if (literal === text) {
      const p = topicProblem(text);
      if (p) problems.push(p);
    } else if (literal.length > 0 && !LEGAL_TOPIC.test(literal.replace(/[{}]/g, ''))) {
      problems.push(`the fixed part of the topic has characters outside [a-zA-Z0-9._-]`);
    }
  }
  return problems;
}

/** Compiles a template the schema has already checked with templateProblems. */
export function compileTemplate(text: string): Template {
  const parts: Array<{ readonly literal: string } | { readonly field: TemplateField }> = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    parts.push({ literal: text.slice(last, m.index) }, { field: m[1] as TemplateField });
    last = m.index + m[0].length;
  }
  if (parts.length === 0) return { text, fixed: true, expand: () => text };
  parts.push({ literal: text.slice(last) });
  return {
    text,
    fixed: false,
    expand(r: Reading): string {
      let out = '';
      for (const p of parts) out += 'field' in p ? r[p.field] : p.literal;
      return out;
    },
  };
}

/** Topic names already checked, so that the check costs one Map lookup per reading. Bounded. */
export class TopicCache {
  private readonly seen = new Map<string, string | undefined>();

  constructor(private readonly limit = 10_000) {}

  problem(topic: string): string | undefined {
    if (this.seen.has(topic)) return this.seen.get(topic);
    const p = topicProblem(topic);
    if (this.seen.size >= this.limit) this.seen.clear();
    this.seen.set(topic, p);
    return p;
  }
}
