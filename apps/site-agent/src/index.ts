/**
 * @fedct/site-agent: the hospital's side of fedct. The CLI (`fedct-site`) is built from these parts;
 * tests and the demo use them directly.
 */
export { SiteFolder, initSiteFolder, enrollmentSchema, type Enrollment, type InitOptions, type LatestModels } from './site/site-folder';
export { sitePaths, resolveSiteDir, type SitePaths } from './site/site-paths';
export { siteConfigSchema, type SiteConfig } from './site/site-config';
export { sitePolicySchema, checkTask, effectiveDp, DEFAULT_POLICY, writeSitePolicy, type SitePolicy, type TaskTerms } from './site/site-policy';
export { enrollSite, type EnrollOptions } from './site/enroll.service';
export { DatasetIndex, LABELS, LABEL_INDEX, SPLITS, type Label, type Split, type StudyRecord, type DatasetCounts } from './data/dataset-index';
export { VolumeCache, floatSha256, type CachedVolume, type VolumeHeader } from './data/volume-cache';
export { importStudies, autoSplit, type ImportOptions, type ImportSummary } from './data/import.service';
export { discoverStudies, type StudyCandidate } from './data/study-discovery';
export { SiteDaemon, type DaemonEvents, type DaemonOptions } from './daemon/site-daemon';
export * from './client';
export { writeDaemonState, daemonStatePath, type DaemonState } from './daemon/daemon-state';
export { privatiseUpdate, type PrivacyReport } from './training/privacy';
export { controlSlices, infectionVolumes, localSampleCount, scannerVolumes } from './training/local-data';
export type { TrainingEngine, TrainOutcome, TrainRequest, SliceSet, LabelledVolume, BackendName, InfectionSize } from './training/training-engine';
export { renderOverlayPng, representativeSlices } from './predict/overlay';
export { createLogger, memoryLogger, silentLogger, type Logger, type LogFields } from './util/logger';
export { SiteAgentError, SiteFolderError, PolicyViolationError, CoordinatorLinkError } from './util/errors';
export { PipelineEngine, createPipelineEngine, PAPER_NETWORKS, DEFAULT_DEPTH, type PipelineEngineOptions, type NetworkConfigs } from './training/pipeline-engine';
export { prepareCalibration, type CalibrationReport } from './predict/calibration.service';
export { predictStudy, overlayPicture, siteArchive, MIN_CALIBRATION_STUDIES, MAX_CALIBRATION_STUDIES, type PredictResult, type LoadedModel, type StudyArchive } from './predict/predict.service';
export * from './ui';
