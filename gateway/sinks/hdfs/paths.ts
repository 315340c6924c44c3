// Where files go: directory templates with UTC time buckets and reading fields, and the names of staged files
// and commit manifests in the state directory. Final and manifest names are ranged names (../ranged-names.ts).
import type { Reading } from '../../reading.js';
import { padSeq, parseRangedName, rangedName, type SeqRange } from '../ranged-names.js';

const TOKENS = ['yyyy', 'MM', 'dd', 'HH', 'mm', 'device', 'metric', 'source', 'gateway'] as const;
type Token = (typeof TOKENS)[number];
type Part = { readonly literal: string } | { readonly token: Token };

export interface PathTemplate {
  readonly text: string;
  readonly parts: readonly Part[];
  /** The literal directories before the first placeholder (`/data/sensors` for `/data/sensors/{yyyy}`). */
  readonly staticPrefix: string;
}

const isToken = (s: string): s is Token => (TOKENS as readonly string[]).includes(s);

/** Everything wrong with a directory template, as messages for the config error. */
export function templateProblems(text: string): string[] {
  const problems: string[] = [];
  if (!text.startsWith('/')) problems.push('must be an absolute HDFS path (start with /)');
  for (const m of text.matchAll(/\{([^}]*)\}/g)) {
    if (!isToken(m[1] ?? ''))
      problems.push(`unknown placeholder {${m[1] ?? ''}}; known: {${TOKENS.join('}, {')}}`);
  }
  if (/[{}]/.test(text.replace(/\{[^{}]*\}/g, ''))) problems.push('unbalanced { or }');
  const segments = trimSlashes(text).split('/');
  if (segments.some((s) => s === '.' || s === '..')) problems.push('no . or .. segments');
  if (trimSlashes(text) !== '' && segments.some((s) => s === '')) problems.push('no empty segments (//)');
  if (text.includes(':')) problems.push('no ":" (HDFS paths cannot hold one)');
  return problems;
}

export function parseTemplate(text: string): PathTemplate {
  const problems = templateProblems(text);
  if (problems.length > 0) throw new Error(`bad path template ${text}: ${problems.join('; ')}`);
  const clean = `/${trimSlashes(text)}`;
  const parts: Part[] = [];
  for (const piece of clean.split(/(\{[^}]+\})/)) {
    if (piece === '') continue;
    const name = piece.startsWith('{') ? piece.slice(1, -1) : undefined;
    parts.push(name !== undefined && isToken(name) ? { token: name } : { literal: piece });
  }
  const firstToken = clean.indexOf('{');
  const literal = firstToken < 0 ? clean : clean.slice(0, clean.lastIndexOf('/', firstToken));
  return { text, parts, staticPrefix: literal === '/' ? '' : literal };
}

/** The directory a reading goes to; `timeMs` is its own timestamp or its arrival, as configured. */
export function expandDir(t: PathTemplate, r: Reading, gatewayId: string, timeMs: number): string {
  const d = new Date(timeMs);
  let out = '';
  for (const p of t.parts) {
    if ('literal' in p) {
      out += p.literal;
      continue;
    }
    switch (p.token) {
      case 'yyyy':
        out += String(d.getUTCFullYear()).padStart(4, '0');
        break;
      case 'MM':
        out += two(d.getUTCMonth() + 1);
        break;
      case 'dd':
        out += two(d.getUTCDate());
        break;
      case 'HH':
        out += two(d.getUTCHours());
        break;
      case 'mm':
        out += two(d.getUTCMinutes());
        break;
      case 'device':
        out += escapeSegment(r.device);
        break;
      case 'metric':
        out += escapeSegment(r.metric);
        break;
      case 'source':
        out += escapeSegment(r.source);
        break;
      case 'gateway':
        out += escapeSegment(gatewayId);
        break;
    }
  }
  return out;
}

const two = (n: number): string => String(n).padStart(2, '0');

/**
 * A field value made safe as (part of) one path segment, Hive-style: bytes outside [A-Za-z0-9_.-] become
 * %XX, and so does a leading `.` or `_` (Hive and Spark skip such names); an empty value becomes `-`.
 */
export function escapeSegment(value: string): string {
  if (value === '') return '-';
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    const plain = /[A-Za-z0-9_.-]/.test(c) && !(out === '' && (c === '.' || c === '_'));
    out += plain ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

const MANIFEST_STEM = 'commit';

/** Names inside the sink's state directory `<state_dir>/<gateway>/<sink>`. */
export const stateNames = {
  /** A committed generation: its manifest. The newest one is the delivered high-water mark. */
  manifest: (first: number, last: number): string => rangedName(MANIFEST_STEM, first, last, 'json'),
  /** A manifest being written (unique per attempt, so a late request of an old attempt cannot touch it). */
  manifestTemp: (first: number, nonce: string): string =>
    `_${MANIFEST_STEM}-${padSeq(first)}-${nonce}.json.tmp`,
  /** The staging directory of one attempt at one generation. */
  staging: (first: number, nonce: string): string => `staging/${padSeq(first)}-${nonce}`,
  /** A staged file: hidden from Hive and Spark by the `_` prefix and the `.tmp` suffix. */
  staged: (index: number, ext: string): string => `_${String(index).padStart(5, '0')}.${ext}.tmp`,
  parseManifest: (name: string): SeqRange | undefined => parseRangedName(name, MANIFEST_STEM, 'json'),
  isManifestTemp: (name: string): boolean => name.startsWith(`_${MANIFEST_STEM}-`) && name.endsWith('.tmp'),
};

export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
