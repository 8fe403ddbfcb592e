import { mulberry32 } from '../../random';

/** Smooth value noise in 3-D (cell size in mm), values in [-1, 1]. */
export class ValueNoise {
  private readonly table = new Float32Array(4096);
  constructor(seed: number, private readonly cell: number) {
    const r = mulberry32(seed);
    for (let i = 0; i < this.table.length; i++) this.table[i] = r() * 2 - 1;
  }
  private at(i: number, j: number, k: number): number {
    const h = (Math.imul(i, 73856093) ^ Math.imul(j, 19349663) ^ Math.imul(k, 83492791)) & 4095;
    return this.table[h] as number;
  }
  sample(x: number, y: number, z: number): number {
    const fx = x / this.cell;
    const fy = y / this.cell;
    const fz = z / this.cell;
    const i = Math.floor(fx);
    const j = Math.floor(fy);
    const k = Math.floor(fz);
    let tx = fx - i;
    let ty = fy - j;
    let tz = fz - k;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    tz = tz * tz * (3 - 2 * tz);
    const a00 = this.at(i, j, k);
    const a10 = this.at(i + 1, j, k);
    const a01 = this.at(i, j + 1, k);
    const a11 = this.at(i + 1, j + 1, k);
    const b00 = this.at(i, j, k + 1);
    const b10 = this.at(i + 1, j, k + 1);
    const b01 = this.at(i, j + 1, k + 1);
    const b11 = this.at(i + 1, j + 1, k + 1);
    const a0 = a00 + (a10 - a00) * tx;
    const a1 = a01 + (a11 - a01) * tx;
    const b0 = b00 + (b10 - b00) * tx;
    const b1 = b01 + (b11 - b01) * tx;
    const a = a0 + (a1 - a0) * ty;
    const b = b0 + (b1 - b0) * ty;
    return a + (b - a) * tz;
  }
}
