// Small inline-SVG line charts for per-round metrics (no chart library, no CDN).
const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceNumber(value) {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.001 || abs >= 100000)) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}

/**
 * A line chart of one metric over rounds.
 * @param {{ title: string, points: { x: number, y: number }[], width?: number, height?: number }} options
 * @returns {SVGSVGElement}
 */
export function lineChart({ title, points, width = 300, height = 170 }) {
  const margin = { left: 52, right: 12, top: 24, bottom: 30 };
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart' });
  const finite = points.filter((p) => Number.isFinite(p.y));
  const summary = finite.length ? `${title}: ${finite.map((p) => `round ${p.x} ${niceNumber(p.y)}`).join(', ')}` : `${title}: no values yet`;
  svg.append(el('title', {}, summary));
  svg.setAttribute('aria-label', summary);
  svg.append(el('text', { x: margin.left, y: 15, class: 'chart-title' }, title));
  if (finite.length === 0) {
    svg.append(el('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'no values yet'));
    return svg;
  }
  const xs = finite.map((p) => p.x);
  const ys = finite.map((p) => p.y);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  let yMin = Math.min(...ys);
  let yMax = Math.max(...ys);
  if (yMax - yMin < 1e-12) {
    const pad = Math.abs(yMax) * 0.1 || 1;
    yMin -= pad;
    yMax += pad;
  }
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const sx = (x) => margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y) => margin.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  // Axes and three horizontal grid lines with labels.
  for (let i = 0; i <= 2; i++) {
    const value = yMin + ((yMax - yMin) * i) / 2;
    const y = sy(value);
    svg.append(el('line', { x1: margin.left, x2: width - margin.right, y1: y, y2: y, class: 'chart-grid' }));
    svg.append(el('text', { x: margin.left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-label' }, niceNumber(value)));
  }
  const rounds = [...new Set(xs)];
  const step = Math.max(1, Math.ceil(rounds.length / 8));
  rounds.forEach((x, i) => {
    if (i % step !== 0 && i !== rounds.length - 1) return;
    svg.append(el('text', { x: sx(x), y: height - 12, 'text-anchor': 'middle', class: 'chart-label' }, String(x)));
  });
  svg.append(el('text', { x: width - margin.right, y: height - 1, 'text-anchor': 'end', class: 'chart-label' }, 'round'));
  const path = finite.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
  svg.append(el('path', { d: path, class: 'chart-line' }));
  for (const p of finite) {
    const dot = el('circle', { cx: sx(p.x), cy: sy(p.y), r: 3.5, class: 'chart-dot' });
    dot.append(el('title', {}, `round ${p.x}: ${niceNumber(p.y)}`));
    svg.append(dot);
  }
  return svg;
}
