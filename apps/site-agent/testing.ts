/** `@fedct/site-agent/testing`: see src/testing/index.ts. */
export * from './src/testing';
