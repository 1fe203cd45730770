/**
 * The picture in BENCHMARKS.md: acquire time against existing leases, one line per
 * registry and lease origin, the floors as flat dashed lines. Plain SVG text, no library.
 */
import type { FlatLine, Series } from "./report.ts";

const WIDTH = 840;
const HEIGHT = 420;
const MARGIN = { left: 60, right: 330, top: 30, bottom: 50 };
const COLORS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"];
const FLAT_COLORS = ["#555", "#888", "#aaa", "#bbb", "#ccc"];

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A round step that gives about `count` ticks up to `max`. */
function tickStep(max: number, count: number): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw)!;
}

export function renderChart(series: Series[], flat: FlatLine[]): string {
  const maxLeases = Math.max(...series.flatMap((line) => line.points.map((point) => point.leases)), 1);
  const maxMs = Math.max(...series.flatMap((line) => line.points.map((point) => point.ms)), ...flat.map((line) => line.ms), 1) * 1.05;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (leases: number) => (MARGIN.left + (leases / maxLeases) * plotW).toFixed(1);
  const y = (ms: number) => (MARGIN.top + plotH - (ms / maxMs) * plotH).toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  out.push(`<text x="${MARGIN.left}" y="18" font-size="14">sublease acquire (new host): median wall time against existing leases</text>`);
  const xStep = tickStep(maxLeases, 5);
  for (let leases = 0; leases <= maxLeases; leases += xStep) {
    out.push(`<line x1="${x(leases)}" y1="${MARGIN.top + plotH}" x2="${x(leases)}" y2="${MARGIN.top + plotH + 5}" stroke="black"/>`);
    out.push(`<text x="${x(leases)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${leases.toLocaleString("en-US")}</text>`);
  }
  const yStep = tickStep(maxMs, 6);
  for (let ms = 0; ms <= maxMs; ms += yStep) {
    out.push(`<line x1="${MARGIN.left}" y1="${y(ms)}" x2="${MARGIN.left + plotW}" y2="${y(ms)}" stroke="#eee"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${Number(y(ms)) + 4}" text-anchor="end">${ms}</text>`);
  }
  out.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + plotH}" stroke="black"/>`);
  out.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${MARGIN.left + plotW}" y2="${MARGIN.top + plotH}" stroke="black"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">existing leases</text>`);
  out.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">ms (median of the runs)</text>`);
  const legend: string[] = [];
  let row = 0;
  const legendY = () => MARGIN.top + 10 + 18 * row++;
  series.forEach((line, i) => {
    const color = COLORS[i % COLORS.length];
    const points = line.points.map((point) => `${x(point.leases)},${y(point.ms)}`);
    out.push(`<polyline points="${points.join(" ")}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const point of line.points) out.push(`<circle cx="${x(point.leases)}" cy="${y(point.ms)}" r="3" fill="${color}"/>`);
    const ly = legendY();
    legend.push(`<line x1="${WIDTH - MARGIN.right + 15}" y1="${ly}" x2="${WIDTH - MARGIN.right + 40}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    legend.push(`<text x="${WIDTH - MARGIN.right + 45}" y="${ly + 4}">${escape(line.label)}</text>`);
  });
  flat.forEach((line, i) => {
    const color = FLAT_COLORS[i % FLAT_COLORS.length];
    out.push(`<line x1="${MARGIN.left}" y1="${y(line.ms)}" x2="${MARGIN.left + plotW}" y2="${y(line.ms)}" stroke="${color}" stroke-dasharray="5 4"/>`);
    const ly = legendY();
    legend.push(`<line x1="${WIDTH - MARGIN.right + 15}" y1="${ly}" x2="${WIDTH - MARGIN.right + 40}" y2="${ly}" stroke="${color}" stroke-dasharray="5 4"/>`);
    legend.push(`<text x="${WIDTH - MARGIN.right + 45}" y="${ly + 4}">${escape(line.label)} (floor)</text>`);
  });
  out.push(...legend, "</svg>", "");
  return out.join("\n");
}
