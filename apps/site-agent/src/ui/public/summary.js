// The printable summary picture of a prediction (Save picture / Print): the result, the model's
// accuracy at this site, and three slices with the infection overlay as displayed. No page state:
// everything comes in `view` (viewer.js summaryView()).

function drawSlice(ctx, view, z, x0, y0, size) {
  const [, ny, nx] = view.shape;
  const image = ctx.createImageData(nx, ny);
  const [calMin, calMax] = view.cal;
  const { overlay, alpha } = view;
  const plane = ny * nx;
  for (let i = 0; i < plane; i++) {
    const v = view.volume[z * plane + i];
    let g = Math.max(0, Math.min(1, (v - calMin) / (calMax - calMin))) * 255;
    let r = g;
    let b = g;
    const f = view.infection && overlay ? view.infection[z * plane + i] : 0;
    if (overlay && f > overlay.min && alpha > 0) {
      const t = Math.min(1, (f - overlay.min) / (overlay.max - overlay.min || 1));
      r = r * (1 - alpha) + 255 * alpha;
      g = g * (1 - alpha) + 255 * t * 0.8 * alpha;
      b = b * (1 - alpha);
    }
    // Radiological convention: the patient's right on the viewer's left (column 0 is the right).
    const o = i * 4;
    image.data[o] = r;
    image.data[o + 1] = g;
    image.data[o + 2] = b;
    image.data[o + 3] = 255;
  }
  const tile = document.createElement('canvas');
  tile.width = nx;
  tile.height = ny;
  tile.getContext('2d').putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(tile, x0, y0, size, size);
  ctx.fillStyle = '#ddd';
  ctx.font = '14px sans-serif';
  ctx.fillText(`slice ${z + 1} / ${view.shape[0]}`, x0 + 6, y0 + size - 8);
}

/** The summary picture: the result and three slices (the current one and the two most infected others). */
export function summaryCanvas(view) {
  const { result, sums } = view;
  const size = 256;
  const top = 137;
  const canvas = document.createElement('canvas');
  canvas.width = size * 3 + 40;
  canvas.height = size + top + 55;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#fff';
  ctx.font = 'bold 20px sans-serif';
  ctx.fillText(`fedct prediction: ${view.classNames[result.prediction] ?? result.prediction}`, 10, 30);
  ctx.font = '15px sans-serif';
  const probs = ['covid-19', 'cap', 'control'].map((k) => `${k} ${((result.probabilities[k] ?? 0) * 100).toFixed(1)} %`).join('   ');
  ctx.fillText(probs, 10, 56);
  ctx.fillStyle = '#bbb';
  ctx.fillText(`model ${result.model.version ?? '(file)'} · sha256 ${result.model.sha256.slice(0, 16)}… · ${new Date().toISOString()}`, 10, 80);
  ctx.fillText(`${result.description ?? result.path}`.slice(0, 110), 10, 102);
  ctx.fillText(`${result.evaluationLine ?? ''}`.slice(0, 120), 10, 124);
  const order = sums ? [...sums.keys()].sort((a, b) => sums[b] - sums[a]).filter((z) => z !== view.slice) : [];
  const fallback = [Math.floor(view.shape[0] / 4), Math.floor((3 * view.shape[0]) / 4)];
  const slices = [view.slice, order[0] ?? fallback[0], order[1] ?? fallback[1]];
  slices.forEach((z, i) => drawSlice(ctx, view, z, 10 + i * (size + 10), top, size));
  ctx.fillStyle = '#999';
  ctx.font = '12px sans-serif';
  ctx.fillText('Research software, not a diagnostic device. Infection map: residual of the BCDU-Net denoiser (warm colours).', 10, canvas.height - 12);
  return canvas;
}
