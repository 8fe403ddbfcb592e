/** Shared by the coordinator and round-floor suites (a module of its own: round-floor must not load the coordinator). */

/** BCDU-Net's parameter count: the update size every coordinator bench uses. */
export const PARAMS = 5_167_365;
/** Simulated sites that transfer at once. */
export const SITE_CONCURRENCY = 16;
