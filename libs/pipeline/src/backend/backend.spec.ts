import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BackendError } from './backend.errors';
import { backendInfo, initBackend, isBackendName } from './backend';

describe(initBackend.name, () => {
  it('falls back past the native backends that are not installed to wasm, saying why', async () => {
    // vitest runs each spec file in its own process, so nothing has started a backend yet.
    delete process.env.FEDCT_BACKEND;
    expect(backendInfo()).toBeNull();
    const info = await initBackend();
    expect(info.name).toBe('wasm');
    expect(info.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.customKernels).toContain('Conv2DBackpropFilter');
    expect(tf.getBackend()).toBe('wasm');
    expect(backendInfo()).toBe(info);
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
