import { lungSection, type Model } from './model';
import type { PhantomClass } from './types';

/**
 * Places the class's lesions: Covid-19 bilateral peripheral multifocal ground glass, lower lobes first;
 * CAP unilateral lobar or segmental consolidation. Control: none.
 */
export function placePathology(m: Model, cls: PhantomClass, rnd: () => number): void {
  const height = m.lungTop - m.lungBase;
  if (cls === 'covid-19') {
    const count = 4 + Math.floor(rnd() * 7);
    for (let i = 0; i < count; i++) {
      const side = i % 2 === 0 ? -1 : 1;
      // Lower lobes first: heights skewed towards the base.
      const h = 0.05 + 0.7 * Math.pow(rnd(), 2.2);
      const z = m.lungBase + h * height;
      const section = lungSection(m, z);
      if (!section) continue;
      // Peripheral and mostly posterior: an angle around the lung outline, biased to the back.
      const theta = (rnd() < 0.7 ? Math.PI / 2 : -Math.PI / 2) + (rnd() - 0.5) * 2.2;
      const rr = 0.72 + 0.2 * rnd();
      const cx = side * m.lungCx + Math.cos(theta) * section.a * rr * (side < 0 ? -1 : 1);
      const cyy = m.lungCy + Math.sin(theta) * section.b * rr;
      const size = 14 + 24 * rnd();
      const consolidated = rnd() < 0.2;
      m.lesions.push({
        kind: consolidated ? 'consolidation' : 'ground-glass',
        side: side < 0 ? 'right' : 'left',
        centerMm: [cx, cyy, z],
        radiiMm: [size * (0.8 + 0.4 * rnd()), size * (0.8 + 0.4 * rnd()), size * (0.7 + 0.6 * rnd())],
        hu: consolidated ? -250 + 150 * rnd() : -700 + 200 * rnd(),
      });
    }
  } else if (cls === 'cap') {
    const sideSign = rnd() < 0.5 ? -1 : 1;
    const side = sideSign < 0 ? 'right' : 'left';
    const lobar = rnd() < 0.55;
    const zTop = m.lungBase + (0.35 + 0.2 * rnd()) * height;
    const hu = -80 + 120 * rnd();
    if (lobar) {
      m.capLobe = { side, zTop, tilt: 0.5 + 0.4 * rnd() };
      m.lesions.push({
        kind: 'consolidation', side, centerMm: [sideSign * m.lungCx, m.lungCy + m.lungB * 0.3, (m.lungBase + zTop) / 2],
        radiiMm: [m.lungA, m.lungB, (zTop - m.lungBase) / 2], hu,
      });
    } else {
      const z = m.lungBase + (0.15 + 0.6 * rnd()) * height;
      const section = lungSection(m, z) ?? { a: m.lungA, b: m.lungB };
      const c: [number, number, number] = [sideSign * (m.lungCx + (rnd() - 0.3) * section.a * 0.5), m.lungCy + (rnd() - 0.3) * section.b * 0.8, z];
      const r = 28 + 22 * rnd();
      m.capLobe = { side, zTop: m.lungTop + 1000, tilt: 0, segment: { c, r } };
      m.lesions.push({ kind: 'consolidation', side, centerMm: c, radiiMm: [r, r, r], hu });
    }
  }
}
