// Types of charts.mjs (SVG charts of a results.json, drawn with Vega-Lite).

export interface ChartDone {
  file?: string;
  title: string;
  skipped?: string;
}

/** Writes each chart that has data as SVG into `dir`; the others come back with `skipped`. */
export function writeCharts(results: unknown, dir: string): Promise<ChartDone[]>;

/** One Vega-Lite spec as an SVG document. */
export function renderSvg(spec: unknown): Promise<string>;
