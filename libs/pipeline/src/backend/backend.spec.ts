import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BackendError } from './backend.errors';
import { backendInfo, initBackend, isBackendName } from './backend';
import { loadNativeAddon } from './native-kernels';

const native = loadNativeAddon();

describe(initBackend.name, () => {
  it('falls back past the backends that are not installed (to native where it built, else wasm), saying why', async () => {
    // vitest runs each spec file in its own process, so nothing has started a backend yet.
    delete process.env.FEDCT_BACKEND;
    expect(backendInfo()).toBeNull();
    const info = await initBackend();
    expect(info.name).toBe(native.available ? 'native' : 'wasm');
    expect(info.skipped.map((s) => s.name)).toEqual(native.available ? ['tensorflow-gpu', 'tensorflow'] : ['tensorflow-gpu', 'tensorflow', 'native']);
    if (!native.available) expect(info.skipped[2]?.reason).toBe(native.reason);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.customKernels).toContain('Conv2DBackpropFilter');
    if (native.available) expect(info.native?.isa).toBe(native.isa);
    // The native backend is the wasm backend with other convolutions.
    expect(tf.getBackend()).toBe('wasm');
    expect(backendInfo()).toBe(info);
  });

  it.runIf(native.available)('switches between native and wasm kernels in one process', async () => {
    expect((await initBackend('native')).name).toBe('native');
    const nativeConv = tf.getKernel('Conv3D', 'wasm')?.kernelFunc;
    expect((await initBackend('wasm')).name).toBe('wasm');
    const wasmConv = tf.getKernel('Conv3D', 'wasm')?.kernelFunc;
    expect(wasmConv).not.toBe(nativeConv);
    expect((await initBackend('native')).name).toBe('native');
    expect(tf.getKernel('Conv3D', 'wasm')?.kernelFunc).toBe(nativeConv);
  });

  it('switches to a preferred backend and keeps it for later automatic calls', async () => {
    const cpu = await initBackend('cpu');
    expect(cpu.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await initBackend()).toBe(cpu);
    expect((await initBackend('wasm')).name).toBe('wasm');
  });

  it('throws a BackendError naming the backend when a preferred native backend is missing', async () => {
    await expect(initBackend('tensorflow-gpu')).rejects.toThrow(BackendError);
    await expect(initBackend('tensorflow-gpu')).rejects.toThrow(/tensorflow-gpu/);
  });

  it('recognises backend names', () => {
    expect(isBackendName('wasm')).toBe(true);
    expect(isBackendName('webgl')).toBe(false);
  });
});
