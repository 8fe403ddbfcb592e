export { BackendError } from './backend.errors';
export { BACKEND_NAMES, backendInfo, initBackend, isBackendName } from './backend';
export type { BackendInfo, BackendName } from './backend';
export { registerWasmKernels, setWasmFilterGradMethod, setWasmKernelChunkFloats } from './wasm';
export { loadNativeAddon, setNativeThreads } from './native-kernels';
export type { NativeStatus } from './native-kernels';
