// Types of report.mjs (results.json as Markdown: results.md and the README's performance section).

export const BEGIN_MARKER: string;
export const END_MARKER: string;

/** A number as a person reads it. */
export function fmt(n: unknown): string;

/** results.md: every bench, all its figures, goals and notes. */
export function resultsMarkdown(results: unknown, charts?: readonly unknown[]): string;

/** The README's performance section from a results.json; `dir` holds its charts, relative to the README. */
export function readmeSection(results: unknown, dir?: string): string;

/** `text` with the part between the bench markers replaced by `section`; throws without the markers. */
export function replaceSection(text: string, section: string, file?: string): string;
