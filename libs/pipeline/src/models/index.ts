export { ModelError } from './models.errors';
export { BCDUNET_MODEL, createBcduNet } from './bcdunet';
export type { BcduNetConfig } from './bcdunet';
export { CNN3D_MODEL, classifierInputSize, cnn3dInputSize, createCnn3d } from './cnn3d';
export type { Cnn3dConfig, InfectionSize } from './cnn3d';
export { ChannelBatchNorm, channelBatchNorm, type ChannelBatchNormArgs } from './batch-norm';
export { GroupNorm, groupNorm, type GroupNormArgs } from './group-norm';
export { forwardFlops } from './flops';
export { getModelBlob, loadModelBlob, modelBlobSha256, saveModelBlob, setModelWeights } from './weights';
