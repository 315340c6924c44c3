// SVG charts of a run's results.json, drawn with Vega-Lite (compiled to Vega, rendered headless by
// vega.View.toSVG(): no canvas, no native build). A chart is made from the benches' `series`, by name:
//   throughput:<target>   x = publishers, y = messages/s acknowledged   (mqtt-ingest)
//   puback_p50:<target>   x = publishers, y = ms; also puback_p99:<target> (mqtt-ingest)
//   backlog:<what>        x = readings in the backlog, y = MiB          (queue-backlog, memory benches)
// A point may carry more fields (`shape`: publishers x in flight); they show in the tooltip-less SVG as
// nothing. A chart with no data is skipped with a note, not an error.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';

/**
 * Every point of every series whose name starts with `prefix:`, tagged with the series' name (after the
 * prefix), preceded by the bench's name when more than one bench has such series.
 */
function points(results, prefix) {
  const out = [];
  for (const b of results.benches ?? []) {
    for (const [name, pts] of Object.entries(b.result?.series ?? {})) {
      if (!name.startsWith(`${prefix}:`) || !Array.isArray(pts)) continue;
      const what = name.slice(prefix.length + 1);
      for (const p of pts)
        if (Number.isFinite(p?.x) && Number.isFinite(p?.y)) out.push({ ...p, bench: b.name, series: what });
    }
  }
  if (new Set(out.map((p) => p.bench)).size > 1) for (const p of out) p.series = `${p.bench} ${p.series}`;
  return out;
}

const base = (title, values) => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title,
  width: 520,
  height: 300,
  data: { values },
  config: { font: 'sans-serif', legend: { orient: 'right', labelLimit: 320 } },
});

/** The charts a run can have: name, title and a Vega-Lite spec, or why not. */
export function chartSpecs(results) {
  const throughput = points(results, 'throughput');
  const latency = [
    ...points(results, 'puback_p50').map((p) => ({ ...p, percentile: 'p50' })),
    ...points(results, 'puback_p99').map((p) => ({ ...p, percentile: 'p99' })),
  ];
  const backlog = points(results, 'backlog');
  return [
    {
      file: 'throughput-vs-publishers.svg',
      title: 'QoS 1 ingest: messages/s against publishers',
      values: throughput,
      missing: 'no throughput:<target> series (mqtt-ingest did not run or recorded none)',
      spec: (t, v) => ({
        ...base(t, v),
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 'publishers', scale: { type: 'log' } },
          y: { field: 'y', type: 'quantitative', title: 'messages/s acknowledged' },
          color: { field: 'series', type: 'nominal', title: 'target' },
        },
      }),
    },
    {
      file: 'latency-percentiles.svg',
      title: 'QoS 1 ingest: PUBACK latency p50 and p99',
      values: latency,
      missing: 'no puback_p50/p99:<target> series (mqtt-ingest did not run or recorded none)',
      spec: (t, v) => ({
        ...base(t, v),
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 'publishers', scale: { type: 'log' } },
          y: { field: 'y', type: 'quantitative', title: 'ms, publish to PUBACK', scale: { type: 'log' } },
          color: { field: 'series', type: 'nominal', title: 'target' },
          strokeDash: {
            field: 'percentile',
            type: 'nominal',
            title: 'percentile',
            legend: { symbolType: 'stroke' },
          },
        },
      }),
    },
    {
      file: 'backlog-vs-rss.svg',
      title: 'Memory against the backlog on disk',
      values: backlog,
      missing: 'no backlog:<what> series (queue-backlog or a memory bench did not run or recorded none)',
      spec: (t, v) => ({
        ...base(t, v),
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 'readings in the backlog' },
          y: { field: 'y', type: 'quantitative', title: 'MiB' },
          color: { field: 'series', type: 'nominal', title: 'memory' },
        },
      }),
    },
  ];
}

/** One Vega-Lite spec as an SVG document. */
export async function renderSvg(spec) {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Writes each chart that has data as an SVG into `dir`; returns [{ file, title }] for those written and
 * [{ title, skipped }] for those without data.
 */
export async function writeCharts(results, dir) {
  const done = [];
  for (const c of chartSpecs(results)) {
    if (c.values.length === 0) {
      done.push({ title: c.title, skipped: c.missing });
      continue;
    }
    writeFileSync(join(dir, c.file), await renderSvg(c.spec(c.title, c.values)));
    done.push({ file: c.file, title: c.title });
  }
  return done;
}
