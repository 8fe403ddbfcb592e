// Small inline-SVG line charts of per-round figures, one line per series (no chart library, no CDN).
const SVG = 'http://www.w3.org/2000/svg';
/** Line colours cycle through this many CSS classes (series-0 … series-7 in dashboard.css). */
const PALETTE = 8;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A number in at most four significant digits ("–" when not finite). */
export function niceNumber(value) {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.001 || abs >= 100000)) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}

/** The step of 1, 2, 2.5 or 5 times a power of ten nearest above `raw`. */
function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * power;
}

function describe(title, series) {
  const parts = series.map((s) => {
    const finite = s.points.filter((p) => Number.isFinite(p.y));
    return `${s.name}: ${finite.length ? finite.map((p) => `round ${p.x} ${niceNumber(p.y)}`).join(', ') : 'no values'}`;
  });
  return `${title}. ${parts.length ? parts.join('; ') : 'no values yet'}`;
}

/**
 * A line chart over rounds with one line per series (per site), and an HTML legend under it.
 * Points whose y is not finite are left out. `yMin`/`yMax` fix the axis (e.g. 0 and 1 for an accuracy).
 * @param {{ title: string, series: { name: string, points: { x: number, y: number }[] }[], yMin?: number, yMax?: number, width?: number, height?: number }} options
 * @returns {HTMLElement} a <figure> holding the <svg> and the legend
 */
export function lineChart({ title, series, yMin: fixedMin, yMax: fixedMax, width = 440, height = 220 }) {
  const figure = document.createElement('figure');
  figure.className = 'chart-box';
  const margin = { left: 52, right: 12, top: 24, bottom: 30 };
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart' });
  const summary = describe(title, series);
  svg.append(el('title', {}, summary));
  svg.setAttribute('aria-label', summary);
  svg.append(el('text', { x: margin.left, y: 15, class: 'chart-title' }, title));
  figure.append(svg);
  const drawn = series.map((s, i) => ({ ...s, colour: `series-${i % PALETTE}`, points: s.points.filter((p) => Number.isFinite(p.y)) }));
  const all = drawn.flatMap((s) => s.points);
  if (all.length === 0) {
    svg.append(el('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'no values yet'));
    return figure;
  }
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  let yMin = fixedMin ?? Math.min(...ys);
  let yMax = fixedMax ?? Math.max(...ys);
  if (yMax - yMin < 1e-12) {
    const pad = Math.abs(yMax) * 0.1 || 1;
    yMin -= pad;
    yMax += pad;
  }
  // Grid lines at round numbers (0.25, 0.5, …): the axis widens to the nearest ones outside the data.
  const yStep = niceStep((yMax - yMin) / 2);
  if (fixedMin === undefined) yMin = Math.floor(yMin / yStep + 1e-9) * yStep;
  if (fixedMax === undefined) yMax = Math.ceil(yMax / yStep - 1e-9) * yStep;
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const sx = (x) => margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y) => margin.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  // Horizontal grid lines with labels, and the round numbers (at most about eight of them).
  for (let i = 0; yMin + i * yStep <= yMax + yStep * 1e-6; i++) {
    const value = yMin + i * yStep;
    const y = sy(value);
    svg.append(el('line', { x1: margin.left, x2: width - margin.right, y1: y, y2: y, class: 'chart-grid' }));
    svg.append(el('text', { x: margin.left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-label' }, niceNumber(value)));
  }
  const rounds = [...new Set(xs)].sort((a, b) => a - b);
  const step = Math.max(1, Math.ceil(rounds.length / 8));
  rounds.forEach((x, i) => {
    if (i % step !== 0 && i !== rounds.length - 1) return;
    svg.append(el('text', { x: sx(x), y: height - 12, 'text-anchor': 'middle', class: 'chart-label' }, String(x)));
  });
  svg.append(el('text', { x: width - margin.right, y: height - 1, 'text-anchor': 'end', class: 'chart-label' }, 'round'));
  const legend = document.createElement('ul');
  legend.className = 'legend';
  for (const s of drawn) {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = `swatch ${s.colour}`;
    swatch.setAttribute('aria-hidden', 'true');
    item.append(swatch, document.createTextNode(s.points.length ? s.name : `${s.name} (no values)`));
    legend.append(item);
    if (s.points.length === 0) continue;
    const path = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    svg.append(el('path', { d: path, class: `chart-line ${s.colour}`, 'data-series': s.name }));
    for (const p of s.points) {
      const dot = el('circle', { cx: sx(p.x), cy: sy(p.y), r: 3.5, class: `chart-dot ${s.colour}`, 'data-series': s.name });
      dot.append(el('title', {}, `${s.name}, round ${p.x}: ${niceNumber(p.y)}`));
      svg.append(dot);
    }
  }
  figure.append(legend);
  return figure;
}
