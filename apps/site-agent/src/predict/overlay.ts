import { PNG } from 'pngjs';

/** One panel of the picture: a grey slice and its infection map, both (height, width) in [0, 1] / signed. */
export interface OverlayPanel {
  slice: Float32Array;
  sliceHeight: number;
  sliceWidth: number;
  infection: Float32Array;
  infectionHeight: number;
  infectionWidth: number;
  label: string;
}

/**
 * Picks up to `count` representative slices of an infection volume (z, y, x): the slices with the most
 * positive residual (where the network removed "infection"), in ascending z, at least `minGap` apart.
 * Returns slice indices into the infection volume.
 */
export function representativeSlices(infection: Float32Array, shape: readonly [number, number, number], count = 4): number[] {
  const [z, y, x] = shape;
  const plane = y * x;
  const scores: { index: number; score: number }[] = [];
  for (let k = 0; k < z; k++) {
    let score = 0;
    for (let i = k * plane; i < (k + 1) * plane; i++) {
      const v = infection[i] ?? 0;
      if (v > 0) score += v;
    }
    scores.push({ index: k, score });
  }
  scores.sort((a, b) => b.score - a.score || a.index - b.index);
  const minGap = Math.max(1, Math.floor(z / (count * 2)));
  const chosen: number[] = [];
  for (const s of scores) {
    if (chosen.length >= count) break;
    if (chosen.every((c) => Math.abs(c - s.index) >= minGap)) chosen.push(s.index);
  }
  return chosen.sort((a, b) => a - b);
}

/**
 * Renders panels side by side as an RGBA PNG: the slice in grey (lung window already applied: 0 =
 * -1000 HU, 1 = 400 HU) with the positive infection map in red-to-yellow, opacity growing with the
 * residual, scaled by `infectionScale` (the largest residual of the study, so panels compare).
 */
export function renderOverlayPng(panels: readonly OverlayPanel[], infectionScale: number, scale = 2): Buffer {
  const height = Math.max(...panels.map((p) => p.sliceHeight)) * scale;
  const widths = panels.map((p) => p.sliceWidth * scale);
  const gap = 4;
  const width = widths.reduce((a, b) => a + b, 0) + gap * Math.max(0, panels.length - 1);
  const png = new PNG({ width: Math.max(1, width), height: Math.max(1, height) });
  png.data.fill(0);
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255;
  let left = 0;
  const norm = infectionScale > 0 ? infectionScale : 1;
  for (const [n, panel] of panels.entries()) {
    for (let py = 0; py < panel.sliceHeight * scale; py++) {
      for (let px = 0; px < panel.sliceWidth * scale; px++) {
        const sy = Math.floor(py / scale);
        const sx = Math.floor(px / scale);
        const grey = clamp01(panel.slice[sy * panel.sliceWidth + sx] ?? 0) * 255;
        const iy = Math.min(panel.infectionHeight - 1, Math.floor((sy * panel.infectionHeight) / panel.sliceHeight));
        const ix = Math.min(panel.infectionWidth - 1, Math.floor((sx * panel.infectionWidth) / panel.sliceWidth));
        const v = clamp01((panel.infection[iy * panel.infectionWidth + ix] ?? 0) / norm);
        const alpha = v > 0.1 ? Math.min(0.6, 0.15 + 0.5 * v) : 0;
        const r = grey * (1 - alpha) + 255 * alpha;
        const g = grey * (1 - alpha) + 255 * v * alpha;
        const b = grey * (1 - alpha);
        const o = (py * png.width + left + px) * 4;
        png.data[o] = Math.round(r);
        png.data[o + 1] = Math.round(g);
        png.data[o + 2] = Math.round(b);
        png.data[o + 3] = 255;
      }
    }
    left += (widths[n] ?? 0) + gap;
  }
  return PNG.sync.write(png);
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
