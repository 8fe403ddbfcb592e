export { registerWasmKernels } from './register';
export { setWasmFilterGradMethod, setWasmKernelChunkFloats } from './settings';
