/*
 * The site side of the coordinator protocol (@fedct/protocol messages over socket.io), without tfjs:
 * used by the site daemon, and by the tests' and the bench's simulated sites, so there is one client.
 */
export { connectSites, call, request, type ConnectOptions, type SiteSocket } from './socket';
export { authenticate, connected } from './session';
export { downloadModel, fetchModel, modelFile, pendingUploadFile, readStoredModel, savePendingUpload, sendUpdate, uploadUpdate, type PendingUpload, type PreparedUpload } from './transfers';
export { SecAggSession } from './secagg-session';
