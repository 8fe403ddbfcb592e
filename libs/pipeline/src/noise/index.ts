export { addPerlinNoise, perlin2, perlinNoise2d, permutation, randomPerlinParams } from './perlin';
export type { PerlinParams } from './perlin';
