/**
 * @fedct/crypto's test support (not part of the main exports): an in-memory run of a whole
 * secure-aggregation round over simulated sites, for specs and experiments.
 */
export * from './src/secagg/secagg.simulate';
