export { startUiServer, resampleVolume, overlayRange, niivueModuleSource, ViewerError, type UiServer, type UiServerOptions } from './ui.server';
export { createEnginePredictor, type ViewerModels } from './ui.predictor';
export { encodeNifti1, type ViewerVolume } from './nifti-writer';
export type { ViewerPrediction, ViewerPredictor, ViewerStudy, ViewerInfo, ViewerLabel } from './ui.types';
