/*
 * @fedct/site-agent's test support, imported as `@fedct/site-agent/testing` (not part of the main
 * exports): the exactly predictable training engine and the simulated site that the coordinator's
 * tests and bench use.
 */
export { ToyEngine } from './toy-engine';
export { SimSite, api, prepareUpload, simulatedTraining, toyModel, uploadModel, type PreparedUpload, type SimSiteOptions } from './sim-site';
