export { startCoordinator, type RunningCoordinator, type StartOptions } from './app';
export { coordinatorConfigSchema, loadCoordinatorConfig, resolveCoordinatorConfig, type CoordinatorConfig, type CoordinatorConfigInput } from './core/coordinator.config';
export { auditHash } from './core/audit.service';
export { checkUpdatePayload, firstNonFinite, l2Distance, sameTensors } from './experiments/update-check';
