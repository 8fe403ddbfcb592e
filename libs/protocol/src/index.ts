export * from './errors';
export * from './config';
export * from './model-blob';
export * from './messages';
export * from './rest';
export * from './stats';
export * from './classes';
export * from './evaluation';
