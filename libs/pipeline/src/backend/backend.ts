import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers calls tensor methods (x.flatten(), ...) that only the full @tensorflow/tfjs bundle registers.
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from './backend.errors';
import { registerWasmKernels } from './wasm';
import { loadNativeAddon, registerNativeKernels, unregisterNativeKernels } from './native-kernels';

/** The compute backends, in the order `auto` tries them. */
export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'] as const;
/**
 * A compute backend: native TensorFlow with CUDA, native TensorFlow on the CPU, the wasm backend with
 * oneDNN convolutions (`native`, see native-kernels.ts), WebAssembly alone, pure JavaScript.
 */
export type BackendName = (typeof BACKEND_NAMES)[number];

/** What {@link initBackend} started. */
export interface BackendInfo {
  /** The backend in use. */
  name: BackendName;
  /** Threads one tfjs kernel may use (wasm under Node: 1, data-parallel workers come on top; native: oneDNN's OpenMP threads). */
  threads: number;
  /** `native` only: oneDNN's version and the instruction set it dispatches to on this CPU. */
  native?: { version: string; isa: string };
  /** Whether the wasm binary uses SIMD (false for other backends). */
  simd: boolean;
  /** Kernels this project registered or replaced on the backend. */
  customKernels: string[];
  /** Backends tried before this one, each with the reason it was skipped. */
  skipped: { name: BackendName; reason: string }[];
}

let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;

/** Whether `value` names a backend; used to validate configuration and `FEDCT_BACKEND`. */
export function isBackendName(value: unknown): value is BackendName {
  return typeof value === 'string' && (BACKEND_NAMES as readonly string[]).includes(value);
}

function tryNative(moduleName: string): string | null {
  try {
    // A variable module name: these optional native packages are absent on most machines.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(moduleName);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message.split('\n')[0] ?? 'not installed' : 'not installed';
  }
}

async function startWasm(): Promise<{ simd: boolean; customKernels: string[] }> {
  const dist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  setWasmPaths(`${dist}/`);
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new BackendError('the wasm backend failed to start');
  await tf.ready();
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  return { simd, customKernels: registerWasmKernels() };
}

/**
 * Turns off TurboFan's allocation folding for the rest of the process. With it on, Node 20's V8
 * (11.3) now and then crashed a training process with SIGSEGV: optimised code wrote an object past
 * the end of the young generation's page it had just been given (docs/ARCHITECTURE.md "A V8 crash").
 * Applies to code optimised from now on, which is the hot training and inference code.
 */
function avoidV8AllocationFoldingCrash(): void {
  setFlagsFromString('--no-turbo-allocation-folding');
}

/**
 * Chooses and starts the compute backend: `preference` (or the `FEDCT_BACKEND` environment variable)
 * if given, else the first that works of tfjs-node-gpu → tfjs-node → native → wasm → cpu.
 * `threads`: the native backend's oneDNN threads (default `FEDCT_THREADS`, else every core). Safe to call again:
 * the same preference returns the running backend; another one switches.
 * @throws BackendError when the preferred backend cannot start.
 */
export async function initBackend(preference?: BackendName | 'auto', options: { threads?: number } = {}): Promise<BackendInfo> {
  const envPref = process.env.FEDCT_BACKEND;
  const wanted = preference && preference !== 'auto' ? preference : isBackendName(envPref) ? envPref : 'auto';
  if (current && (wanted === 'auto' || wanted === current.name)) return current;
  if (pending) await pending.catch(() => undefined);
  if (current && (wanted === 'auto' || wanted === current.name)) return current;
  // Keeps tfjs from printing its "install tfjs-node" banner: libraries never print.
  tf.env().set('PROD', true);
  avoidV8AllocationFoldingCrash();
  pending = start(wanted, options.threads);
  try {
    current = await pending;
    return current;
  } finally {
    pending = null;
  }
}

async function start(wanted: BackendName | 'auto', threads?: number): Promise<BackendInfo> {
  const order: BackendName[] = wanted === 'auto' ? [...BACKEND_NAMES] : [wanted];
  const skipped: BackendInfo['skipped'] = [];
  for (const name of order) {
    try {
      if (name === 'tensorflow-gpu' || name === 'tensorflow') {
        const why = tryNative(name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
        if (why !== null) throw new BackendError(why);
        if (!(await tf.setBackend('tensorflow'))) throw new BackendError('the tensorflow backend failed to start');
        await tf.ready();
        return { name, threads: availableParallelism(), simd: false, customKernels: [], skipped };
      }
      if (name === 'native') {
        // Checked before the wasm backend starts, so that `auto` falls through to it with the reason.
        const found = loadNativeAddon();
        if (!found.available) throw new BackendError(found.reason ?? 'native kernels unavailable');
        const { simd, customKernels } = await startWasm();
        const count = threads ?? nativeThreads();
        const nativeKernels = registerNativeKernels(count);
        return { name, threads: count, simd, customKernels: [...new Set([...customKernels, ...nativeKernels])], native: { version: found.version ?? '', isa: found.isa ?? '' }, skipped };
      }
      if (name === 'wasm') {
        const { simd, customKernels } = await startWasm();
        unregisterNativeKernels();
        return { name, threads: getThreadsCount(), simd, customKernels, skipped };
      }
      if (!(await tf.setBackend('cpu'))) throw new BackendError('the cpu backend failed to start');
      await tf.ready();
      return { name, threads: 1, simd: false, customKernels: [], skipped };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (wanted !== 'auto') {
        throw new BackendError(`backend "${name}" could not start: ${reason}`, { cause: error });
      }
      skipped.push({ name, reason });
    }
  }
  throw new BackendError(`no compute backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

/**
 * oneDNN threads for this process: `FEDCT_THREADS` if set (the demo gives each of its site processes
 * its share of the cores), else every core.
 */
function nativeThreads(): number {
  const fromEnv = Number(process.env.FEDCT_THREADS);
  if (process.env.FEDCT_THREADS !== undefined && !(Number.isInteger(fromEnv) && fromEnv >= 1)) {
    throw new BackendError(`FEDCT_THREADS must be a positive integer, got "${process.env.FEDCT_THREADS}"`);
  }
  return process.env.FEDCT_THREADS !== undefined ? fromEnv : availableParallelism();
}

/** The backend {@link initBackend} started, or null before it ran. */
export function backendInfo(): BackendInfo | null {
  return current;
}
