import { mulberry32, sha256Seed } from '../../random';
import { diaphragm, lungSection, type Model, type Tube } from './model';

function segmentDistance(t: Tube, x: number, y: number, z: number): number {
  const vx = t.b[0] - t.a[0];
  const vy = t.b[1] - t.a[1];
  const vz = t.b[2] - t.a[2];
  const wx = x - t.a[0];
  const wy = y - t.a[1];
  const wz = z - t.a[2];
  const len2 = vx * vx + vy * vy + vz * vz;
  let s = len2 > 0 ? (wx * vx + wy * vy + wz * vz) / len2 : 0;
  s = s < 0 ? 0 : s > 1 ? 1 : s;
  const dx = wx - s * vx;
  const dy = wy - s * vy;
  const dz = wz - s * vz;
  return Math.sqrt(dx * dx + dy * dy + dz * dz);
}

function smooth(edge0: number, edge1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - edge0) / (edge1 - edge0)));
  return t * t * (3 - 2 * t);
}

/** Renders slice k (HU, before noise and quantisation) into `out` (matrix × matrix), plus the lung mask. */
export function renderSlice(m: Model, k: number, out: Float32Array, lung: Uint8Array): void {
  const p = m.profile;
  const n = p.matrix;
  const ps = p.pixelSpacingMm;
  const z = m.z0 + k * m.spacing;
  const section = lungSection(m, z);
  const heartDz = (z - m.heart.c[2]) / m.heart.r[2];
  const heartScale = Math.abs(heartDz) < 1 ? Math.sqrt(1 - heartDz * heartDz) : 0;
  const inThorax = z > m.lungBase - m.dome - 20 && z < m.lungTop + 10;
  const sternum = z > m.lungBase + 0.15 * (m.lungTop - m.lungBase) && z < m.lungTop - 20;
  const discPhase = ((z - m.z0) % 28 + 28) % 28;
  const disc = discPhase < 6;
  const aortaArchZ = m.lungBase + 0.78 * (m.lungTop - m.lungBase);
  lung.fill(0);
  for (let i = 0; i < n; i++) {
    const y = m.origin[1] + i * ps;
    for (let j = 0; j < n; j++) {
      const x = m.origin[0] + j * ps;
      const o = i * n + j;
      let hu = -1000;
      // Table: a curved carbon shell with foam, under the patient.
      const tableTop = m.cy + m.bodyB + 6 + 0.0006 * x * x;
      if (y > tableTop && y < tableTop + 40 && Math.abs(x) < 230) {
        const d = y - tableTop;
        hu = d < 3 || d > 37 ? 250 : -880;
      }
      const ex = x / m.bodyA;
      const ey = (y - m.cy) / m.bodyB;
      const r2 = ex * ex + ey * ey;
      if (r2 < 1) {
        // Skin and subcutaneous fat, then muscle.
        const depth = (1 - Math.sqrt(r2)) * Math.min(m.bodyA, m.bodyB);
        hu = depth < 2 ? 30 : depth < m.fat ? -100 : 45;
        // Rib cage ring.
        const rx = x / m.ribA;
        const ry = (y - m.cy) / m.ribB;
        const rr = Math.sqrt(rx * rx + ry * ry);
        const ringDist = (rr - 1) * Math.min(m.ribA, m.ribB);
        const inside = rr < 1;
        if (inThorax && Math.abs(ringDist) < 5) {
          const theta = Math.atan2(y - m.cy, Math.abs(x));
          // Ribs run down from the spine to the front: their height depends on the angle.
          const phase = (((z + m.ribPhase + 40 * (1 - Math.sin(theta))) % m.ribPitch) + m.ribPitch) % m.ribPitch;
          if (phase < 11 && Math.abs(x) > 25) hu = Math.abs(ringDist) > 3 ? 750 : 250;
        }
        if (inside && ringDist < -4) {
          hu = -70; // mediastinal fat by default inside the cage
          // Spine: vertebral body, canal, posterior arch.
          const vx = x;
          const vy = y - m.spineY;
          const vr = Math.sqrt(vx * vx + (vy + 8) * (vy + 8));
          if (vr < 18) hu = disc ? 85 : vr > 15.5 ? 800 : 260;
          const canal = Math.sqrt(vx * vx + (vy - 18) * (vy - 18));
          if (canal < 8) hu = 15;
          else if (canal < 13 && !disc) hu = 650;
          // Sternum.
          if (sternum && Math.abs(x) < 14 && Math.abs(y - (m.cy - m.ribB + 10)) < 6) hu = Math.abs(y - (m.cy - m.ribB + 10)) > 4 ? 700 : 300;
          // Descending aorta beside the spine, ascending aorta and arch above the heart.
          if (inThorax && (x - 24) ** 2 + (y - m.spineY + 28) ** 2 < 144) hu = 45;
          if (z > m.heart.c[2] && z < aortaArchZ && (x - 4) ** 2 + (y - m.cy + 22) ** 2 < 196) hu = 45;
          if (Math.abs(z - aortaArchZ) < 12 && x > 0 && x < 28 && y > m.cy - 30 && y < m.spineY - 20) hu = 45;
          // Heart.
          if (heartScale > 0) {
            const hx = (x - m.heart.c[0]) / (m.heart.r[0] * heartScale);
            const hy = (y - m.heart.c[1]) / (m.heart.r[1] * heartScale);
            const h2 = hx * hx + hy * hy;
            if (h2 < 1) hu = h2 > 0.8 ? 50 : 38;
            else if (h2 < 1.15) hu = -90; // pericardial fat
          }
          // Lungs.
          if (section) {
            const side = x < 0 ? -1 : 1;
            const lx = (x - side * m.lungCx) / section.a;
            const ly = (y - m.lungCy) / section.b;
            const l2 = lx * lx + ly * ly;
            const heartHere = heartScale > 0 && ((x - m.heart.c[0]) / (m.heart.r[0] * heartScale * 1.15)) ** 2 + ((y - m.heart.c[1]) / (m.heart.r[1] * heartScale * 1.15)) ** 2 < 1;
            const floor = l2 < 1.3 ? diaphragm(m, x, y) : 0;
            if (l2 < 1 && !heartHere && z > floor && Math.abs(x) > 18) {
              lung[o] = 1;
              const gravity = 45 * smooth(-0.6, 1, ly);
              hu = -870 + gravity + 25 * m.texture.sample(x, y, z);
            } else if (l2 < 1.3 && z < floor + 2) {
              // Under the diaphragm: liver on the right, stomach (with an air cap) and spleen on the left.
              if (side < 0) hu = 58;
              else hu = z > floor - 25 && y < m.lungCy ? -1000 : 35;
            }
          } else if (z < m.lungBase && Math.abs(x) > 20) {
            hu = x < 0 ? 58 : 38;
          }
        }
      }
      out[o] = hu;
    }
  }
  drawPathology(m, z, out, lung);
  // Vessels with a one-pixel partial-volume edge; airway lumens (air) with a thin wall.
  drawTubes(m, m.vessels, z, out, lung, (d, r, cur) => {
    const a = Math.min(1, Math.max(0, r + 0.5 - d));
    return a > 0 ? cur + (Math.max(cur, 40) - cur) * a : cur;
  });
  drawTubes(m, m.airways, z, out, lung, (d, r, cur) => (d < r ? -985 : d < r + 1.6 ? Math.max(cur, 20) : cur), true);
}

function drawPathology(m: Model, z: number, out: Float32Array, lung: Uint8Array): void {
  const p = m.profile;
  const n = p.matrix;
  const ps = p.pixelSpacingMm;
  for (const les of m.lesions) {
    const [cx, cy, cz] = les.centerMm;
    const [rx, ry, rz] = les.radiiMm;
    const dz = (z - cz) / rz;
    if (Math.abs(dz) >= 1.25) continue;
    const sign = les.side === 'right' ? -1 : 1;
    const lobe = m.capLobe;
    const x0 = Math.max(0, Math.floor((cx - 1.25 * rx - m.origin[0]) / ps));
    const x1 = Math.min(n - 1, Math.ceil((cx + 1.25 * rx - m.origin[0]) / ps));
    const y0 = Math.max(0, Math.floor((cy - 1.25 * ry - m.origin[1]) / ps));
    const y1 = Math.min(n - 1, Math.ceil((cy + 1.25 * ry - m.origin[1]) / ps));
    for (let i = y0; i <= y1; i++) {
      const y = m.origin[1] + i * ps;
      for (let j = x0; j <= x1; j++) {
        const o = i * n + j;
        if (!lung[o]) continue;
        const x = m.origin[0] + j * ps;
        if (Math.sign(x) !== sign) continue;
        let alpha: number;
        if (lobe && !lobe.segment && les.kind === 'consolidation' && m.lesions.length === 1) {
          // Lobar: everything below an oblique fissure plane in that lung.
          const fissure = lobe.zTop - lobe.tilt * (y - m.lungCy) * 1.2;
          alpha = 1 - smooth(fissure - 6, fissure + 6, z);
        } else {
          const ex = (x - cx) / rx;
          const ey = (y - cy) / ry;
          const d = Math.sqrt(ex * ex + ey * ey + dz * dz) + 0.18 * m.lesionTexture.sample(x, y, z);
          alpha = 1 - smooth(0.75, 1.05, d);
        }
        if (alpha <= 0) continue;
        const texture = les.kind === 'ground-glass' ? 60 * m.lesionTexture.sample(x * 2, y * 2, z) : 30 * m.lesionTexture.sample(x, y, z * 2);
        const target = les.hu + texture;
        const cur = out[o] as number;
        out[o] = cur + (Math.max(cur, target) - cur) * alpha;
      }
    }
  }
}

function drawTubes(
  m: Model,
  tubes: Tube[],
  z: number,
  out: Float32Array,
  lung: Uint8Array,
  paint: (d: number, r: number, cur: number) => number,
  everywhere = false,
): void {
  const n = m.profile.matrix;
  const ps = m.profile.pixelSpacingMm;
  for (const t of tubes) {
    const reach = t.r + 2;
    if (z < Math.min(t.a[2], t.b[2]) - reach || z > Math.max(t.a[2], t.b[2]) + reach) continue;
    const x0 = Math.max(0, Math.floor((Math.min(t.a[0], t.b[0]) - reach - m.origin[0]) / ps));
    const x1 = Math.min(n - 1, Math.ceil((Math.max(t.a[0], t.b[0]) + reach - m.origin[0]) / ps));
    const y0 = Math.max(0, Math.floor((Math.min(t.a[1], t.b[1]) - reach - m.origin[1]) / ps));
    const y1 = Math.min(n - 1, Math.ceil((Math.max(t.a[1], t.b[1]) + reach - m.origin[1]) / ps));
    for (let i = y0; i <= y1; i++) {
      const y = m.origin[1] + i * ps;
      for (let j = x0; j <= x1; j++) {
        const o = i * n + j;
        if (!lung[o] && !(everywhere && t.r >= 6)) continue;
        const d = segmentDistance(t, m.origin[0] + j * ps, y, z);
        if (d < reach) out[o] = paint(d, t.r, out[o] as number);
      }
    }
  }
}

/** Adds noise, rounds to the stored grid, clips to what the profile can store, blanks outside the reconstruction circle. */
export function finishSlice(m: Model, k: number, plane: Float32Array): void {
  const p = m.profile;
  const rnd = mulberry32(sha256Seed('noise', m.seed, k));
  const lo = p.signed ? -(2 ** (p.bitsStored - 1)) + p.rescaleIntercept : p.rescaleIntercept;
  const hi = p.signed ? 2 ** (p.bitsStored - 1) - 1 + p.rescaleIntercept : 2 ** p.bitsStored - 1 + p.rescaleIntercept;
  const n = p.matrix;
  const fovR = (n * p.pixelSpacingMm) / 2;
  const c = (n - 1) / 2;
  const rPx2 = (fovR / p.pixelSpacingMm) ** 2;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const o = i * n + j;
      if ((i - c) ** 2 + (j - c) ** 2 > rPx2) {
        plane[o] = p.paddingValue !== undefined ? -1000 : Math.max(lo, -1024);
        continue;
      }
      // Sum of four uniforms: close enough to Gaussian noise, and cheap.
      const g = (rnd() + rnd() + rnd() + rnd() - 2) * 1.7320508;
      let v = Math.round((plane[o] as number) + g * p.noiseHu);
      if (v < lo) v = lo;
      if (v > hi) v = hi;
      plane[o] = v;
    }
  }
}
