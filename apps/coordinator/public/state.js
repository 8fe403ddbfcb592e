// The page's state: one object that every module reads and writes (window.fedctDashboard in the tests).
export const state = {
  token: null,
  socket: null,
  sites: [],
  experiments: [],
  models: [],
  evaluations: [],
  /** The opened experiment's id and its GET /api/experiments/:id answer. */
  selected: null,
  detail: null,
  /** The opened evaluation's id and its GET /api/evaluations/:id answer. */
  selectedEvaluation: null,
  evaluation: null,
  /** The newest `round` event pushed per experiment (or evaluation) id. */
  lastRound: new Map(),
  auditAfter: 0,
  timers: new Map(),
};

/** A site's name from its id (the id itself for a site this page does not know). */
export function siteName(id) {
  return state.sites.find((s) => s.id === id)?.name ?? id;
}
