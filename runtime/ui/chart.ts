import { html, type Html } from './html.js';

export interface Point {
  /** ISO time. */
  at: string;
  value: number;
  /** Shown as the bar's tooltip with the value. */
  label: string;
}

/**
 * A small bar chart of one number over time, oldest left, as inline SVG: each bar a <title> with
 * its time and value, the axis labelled with the largest value.
 */
export function barChart(title: string, points: Point[], options: { width?: number; height?: number } = {}): Html {
  const width = options.width ?? 300;
  const height = options.height ?? 90;
  const top = 18;
  const bottom = 16;
  const max = Math.max(0, ...points.map((p) => p.value));
  const n = Math.max(points.length, 1);
  const slot = (width - 8) / n;
  const barWidth = Math.max(2, Math.min(28, slot - 3));
  const plot = height - top - bottom;
  const bars = points.map((p, i) => {
    const h = max > 0 ? Math.max(1, (p.value / max) * plot) : 1;
    const x = 4 + i * slot + (slot - barWidth) / 2;
    return html`<rect class="bar" x="${x.toFixed(1)}" y="${(top + plot - h).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${h.toFixed(1)}"><title>${p.label}: ${p.value}</title></rect>`;
  });
  const first = points[0]?.at.slice(0, 10) ?? '';
  const last = points.at(-1)?.at.slice(0, 10) ?? '';
  return html`<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${title}"><text class="chart-title" x="4" y="12">${title} (max ${max})</text><line class="axis" x1="4" x2="${width - 4}" y1="${top + plot}" y2="${top + plot}"/>${bars}<text class="chart-axis" x="4" y="${height - 3}">${first}</text><text class="chart-axis" x="${width - 4}" y="${height - 3}" text-anchor="end">${last}</text></svg></figure>`;
}
