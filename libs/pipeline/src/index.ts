export * from './ct';
export * from './backend';
export * from './models';
export * from './noise';
export * from './train';
export * from './profile';
export { fnv1aSeed, mulberry32, sha256Seed, withSeededRandom } from './random';
