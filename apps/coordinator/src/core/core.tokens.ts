/** Injection token of the coordinator's {@link FileStorage} (its data folder's files). */
export const STORAGE = Symbol('STORAGE');
