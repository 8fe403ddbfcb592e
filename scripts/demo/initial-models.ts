import { BCDUNET_MODEL, CNN3D_MODEL, createBcduNet, createCnn3d, getModelBlob, initBackend, type BcduNetConfig, type Cnn3dConfig } from '@fedct/pipeline';
import { encodeModelBlob } from '@fedct/protocol';

/**
 * The starting models of both experiments, built in-process from seeded initial weights at the
 * profile's network sizes and uploaded to the registry (`POST /api/models`). Sites rebuild networks
 * from the sizes in a blob's manifest, so these choose the sizes the whole federation trains.
 */
export async function buildInitialModels(networks: { bcdunet: BcduNetConfig; cnn3d: Cnn3dConfig }, seed: number): Promise<{ denoiser: Uint8Array; classifier: Uint8Array }> {
  await initBackend('auto');
  const bcdunet = createBcduNet(networks.bcdunet, { seed });
  const cnn3d = createCnn3d(networks.cnn3d, { seed });
  try {
    return {
      denoiser: encodeModelBlob(getModelBlob(bcdunet, BCDUNET_MODEL, networks.bcdunet)),
      classifier: encodeModelBlob(getModelBlob(cnn3d, CNN3D_MODEL, networks.cnn3d)),
    };
  } finally {
    bcdunet.dispose();
    cnn3d.dispose();
  }
}
