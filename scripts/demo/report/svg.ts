/** Small, dependency-free SVG charts for the self-contained HTML report. */

/** Escapes text for HTML/SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  /** Draw markers at each point. */
  markers?: boolean;
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Fixed axis ranges; default: the data's range. */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Integer ticks on x (rounds). */
  integerX?: boolean;
}

const fmt = (v: number): string => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toPrecision(3).replace(/\.?0+$/, ''));

/** "Nice" tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** A line chart with axes, ticks, a legend and one polyline per series. */
export function lineChart(series: readonly Series[], options: LineChartOptions): string {
  const width = options.width ?? 520;
  const height = options.height ?? 300;
  const m = { left: 56, right: 16, top: 30, bottom: 44 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let [x0, x1] = options.xRange ?? [Math.min(...xs, Infinity), Math.max(...xs, -Infinity)];
  let [y0, y1] = options.yRange ?? [Math.min(...ys, Infinity), Math.max(...ys, -Infinity)];
  if (!Number.isFinite(x0) || !Number.isFinite(x1)) [x0, x1] = [0, 1];
  if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = [0, 1];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
  const sx = (x: number): number => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const sy = (y: number): number => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}">`);
  parts.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`);
  let xTicks = niceTicks(x0, x1);
  if (options.integerX) xTicks = xTicks.filter((t) => Number.isInteger(t));
  for (const t of xTicks) {
    parts.push(`<line x1="${sx(t)}" y1="${sy(y0)}" x2="${sx(t)}" y2="${sy(y1)}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(t)}" y="${height - m.bottom + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${sx(x0)}" y1="${sy(t)}" x2="${sx(x1)}" y2="${sy(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${width / 2}" y="${height - 8}" text-anchor="middle" font-size="12">${escapeXml(options.xLabel)}</text>`);
  parts.push(`<text x="14" y="${height / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${height / 2})">${escapeXml(options.yLabel)}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length > 0) {
      const d = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      parts.push(`<polyline class="series" data-name="${escapeXml(s.name)}" points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
      if (s.markers) for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    const ly = m.top + 14 + i * 16;
    parts.push(`<rect x="${width - m.right - 150}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${width - m.right - 136}" y="${ly}" font-size="11">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A confusion matrix as a shaded grid: rows are the truth, columns the prediction. */
export function confusionChart(matrix: readonly (readonly number[])[], labels: readonly string[], title: string): string {
  const cell = 64;
  const left = 90;
  const top = 60;
  const size = labels.length * cell;
  const max = Math.max(1, ...matrix.flat());
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${left + size + 20}" height="${top + size + 40}" role="img" aria-label="${escapeXml(title)}">`];
  parts.push(`<text x="${left + size / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  parts.push(`<text x="${left + size / 2}" y="40" text-anchor="middle" font-size="11">predicted</text>`);
  parts.push(`<text x="14" y="${top + size / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 14 ${top + size / 2})">true</text>`);
  labels.forEach((label, i) => {
    parts.push(`<text x="${left + i * cell + cell / 2}" y="${top - 6}" text-anchor="middle" font-size="11">${escapeXml(label)}</text>`);
    parts.push(`<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end" font-size="11">${escapeXml(label)}</text>`);
  });
  matrix.forEach((row, r) =>
    row.forEach((v, c) => {
      const shade = Math.round(255 - (v / max) * 200);
      const fill = r === c ? `rgb(${shade},${Math.min(255, shade + 40)},${shade})` : `rgb(255,${shade},${shade})`;
      parts.push(`<rect x="${left + c * cell}" y="${top + r * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#fff"/>`);
      parts.push(`<text class="cell" x="${left + c * cell + cell / 2}" y="${top + r * cell + cell / 2 + 5}" text-anchor="middle" font-size="15">${v}</text>`);
    }),
  );
  parts.push('</svg>');
  return parts.join('');
}

/** Horizontal bars, one per entry, values in [0, 1] (accuracies). */
export function barChart(entries: readonly { label: string; value: number; color: string }[], title: string): string {
  const rowH = 24;
  const left = 170;
  const width = 520;
  const barW = width - left - 60;
  const height = 36 + entries.length * rowH + 10;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${escapeXml(title)}">`];
  parts.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  entries.forEach((e, i) => {
    const y = 32 + i * rowH;
    const w = Math.max(0, Math.min(1, e.value)) * barW;
    parts.push(`<text x="${left - 6}" y="${y + 15}" text-anchor="end" font-size="12">${escapeXml(e.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 3}" width="${barW}" height="${rowH - 8}" fill="#f2f2f2"/>`);
    parts.push(`<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${e.color}"/>`);
    parts.push(`<text x="${left + barW + 6}" y="${y + 15}" font-size="12">${(e.value * 100).toFixed(1)} %</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
