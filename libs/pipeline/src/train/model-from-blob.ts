import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelBlob } from '@fedct/protocol';
import { BCDUNET_MODEL, createBcduNet, type BcduNetConfig } from '../models/bcdunet';
import { CNN3D_MODEL, createCnn3d, type Cnn3dConfig } from '../models/cnn3d';
import { ModelError } from '../models/models.errors';
import { setModelWeights } from '../models/weights';

/**
 * Rebuilds the network a blob describes (from the size configuration in its manifest) and loads the
 * weights. The caller owns the model and disposes it.
 * @param kind when given, a blob of another kind throws ModelError.
 */
export function modelFromBlob(blob: ModelBlob, kind?: string): tfl.LayersModel {
  const model = blob.manifest.model;
  if (kind !== undefined && model !== kind) throw new ModelError(`model file holds a ${model}, expected a ${kind}`);
  let built: tfl.LayersModel;
  if (model === BCDUNET_MODEL) built = createBcduNet(blob.manifest.config as unknown as BcduNetConfig);
  else if (model === CNN3D_MODEL) built = createCnn3d(blob.manifest.config as unknown as Cnn3dConfig);
  else throw new ModelError(`unknown model "${model}" in weights; expected ${BCDUNET_MODEL} or ${CNN3D_MODEL}`);
  try {
    setModelWeights(built, blob, model);
  } catch (error) {
    built.dispose();
    throw error;
  }
  return built;
}
