import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { batchMatMulConfig } from './batch-mat-mul';
import { concatConfig } from './concat';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input';
import { conv3DConfig } from './conv3d';
import { conv3DBackpropFilterV2Config } from './conv3d-backprop-filter';
import { conv3DBackpropInputV2Config } from './conv3d-backprop-input';
import { maxPool3DGradConfig } from './max-pool-3d-grad';
import { captureOriginals, originalsCaptured } from './originals';
import { reverseConfig } from './reverse';
import { splitVConfig } from './split-v';
import { sumConfig } from './sum';
import { transposeConfig } from './transpose';

/*
 * Kernels the wasm backend lacks or runs slowly, built on its fast kernels (one file each, with its
 * doc comment; as @tensorflow/tfjs-backend-wasm's register_all_kernels lists its own).
 */
const KERNEL_CONFIGS: KernelConfig[] = [
  maxPool3DGradConfig,
  sumConfig,
  splitVConfig,
  concatConfig,
  transposeConfig,
  reverseConfig,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  conv3DConfig,
  conv3DBackpropInputV2Config,
  conv3DBackpropFilterV2Config,
  batchMatMulConfig,
];

/**
 * Registers this project's kernels on the wasm backend (replacing slow built-in ones). Call after the
 * wasm backend is initialised; calling again does nothing. Returns the kernel names.
 */
export function registerWasmKernels(): string[] {
  if (originalsCaptured()) return KERNEL_CONFIGS.map((config) => config.kernelName);
  captureOriginals();
  for (const config of KERNEL_CONFIGS) {
    if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
  }
  return KERNEL_CONFIGS.map((config) => config.kernelName);
}
