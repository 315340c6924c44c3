// Name templates shared by `rename` and `tag`: `{device}`, `{metric}`, `{unit}`, `{source}` and
// `{tags.NAME}` between literal text, parsed once at load; a reading lacking a field it names is an error.
import { z } from 'zod';
import { SluiceError } from '../errors.js';
import type { Reading } from '../reading.js';
import { ProcessorError } from './types.js';

const FIELDS = ['device', 'metric', 'unit', 'source'] as const;
type Field = (typeof FIELDS)[number];
type Part = { readonly text: string } | { readonly field: Field } | { readonly tag: string };

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** The parts of a template, or why it is not one. */
export function parseTemplate(src: string): { parts: Part[] } | { problem: string } {
  const parts: Part[] = [];
  let last = 0;
  for (const m of src.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push({ text: src.slice(last, m.index) });
    const name = m[1] ?? '';
    if (name.startsWith('tags.') && name.length > 5) parts.push({ tag: name.slice(5) });
    else if ((FIELDS as readonly string[]).includes(name)) parts.push({ field: name as Field });
    else
      return {
        problem: `unknown placeholder {${name}} at character ${m.index + 1}; use {device}, {metric}, {unit}, {source} or {tags.NAME}`,
      };
    last = m.index + m[0].length;
  }
  if (last < src.length) parts.push({ text: src.slice(last) });
  if (/[{}]/.test(parts.map((p) => ('text' in p ? p.text : '')).join('')))
    return { problem: 'unbalanced { or }' };
  return { parts };
}

/** A compiled template. */
export class Template {
  private constructor(private readonly parts: readonly Part[]) {}

  static compile(src: string): Template {
    const parsed = parseTemplate(src);
    // The schema (templateString) refused anything else; only a config that skipped validation gets here.
    if ('problem' in parsed)
      throw new SluiceError('SLUICE_CONFIG_INVALID', `template "${src}": ${parsed.problem}`);
    return new Template(parsed.parts);
  }

  render(r: Reading): string {
    let out = '';
    for (const p of this.parts) {
      if ('text' in p) out += p.text;
      else if ('field' in p) {
        const v = r[p.field];
        if (v === undefined) throw new ProcessorError('missing_field', `the reading has no ${p.field}`);
        out += v;
      } else {
        const v = r.tags?.[p.tag];
        if (v === undefined) throw new ProcessorError('missing_field', `the reading has no tag ${p.tag}`);
        out += v;
      }
    }
    return out;
  }
}

/** A template option: refused at load when a placeholder is unknown. */
export function templateString(description: string): z.ZodString {
  return z
    .string()
    .min(1)
    .superRefine((src, ctx) => {
      const parsed = parseTemplate(src);
      if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
    })
    .describe(description);
}
