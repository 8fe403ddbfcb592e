export * from './errors';
export * from './random';
export { concatBytes, bytesEqual, sha256, toHex, fromHex } from './bytes';
export * from './keys';
export * from './envelope';
export * from './chunks';
export * from './shamir';
export * from './secagg';
export * from './dp';
