/**
 * The TypeScript side of scripts/bench/pytorch-peer.py: builds its request from the same network
 * configurations fedct trains, runs it with a Python that has PyTorch, and reads its JSON lines.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BcduNetConfig, Cnn3dConfig } from '@fedct/pipeline';

/** The peer failed in a way that makes its figures meaningless (e.g. its networks differ from fedct's). */
export class PeerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PeerError';
  }
}

/** One network for the peer: its fedct configuration, batch sizes, and tfjs' parameter count (checked by the peer). */
export type PeerNetwork<C> = C & { trainBatch: number; inferBatch: number; params: number };

/** What scripts/bench/pytorch-peer.py reads as its one argument. */
export interface PeerRequest {
  threads: number;
  /** Timed training steps and inference passes, after `warmup` untimed ones of each. */
  steps: number;
  inferReps: number;
  warmup: number;
  learningRate: number;
  /** Build the networks and compare parameter counts only. */
  paramsOnly?: boolean;
  bcdunet?: PeerNetwork<BcduNetConfig>;
  cnn3d?: PeerNetwork<Cnn3dConfig>;
}

/** One measurement of the peer, as it printed it (`metric`, `value`, `unit` and context). */
export interface PeerResult {
  metric: string;
  value: number;
  unit: string;
  [key: string]: unknown;
}

/** What a peer run gave: `unavailable` says why there are no figures (PyTorch or Python missing). */
export interface PeerOutput {
  unavailable: string | null;
  info: Record<string, unknown>;
  params: { model: string; torch: number; tfjs: number | null }[];
  results: PeerResult[];
}

/** The peer script beside this file. */
export const PEER_SCRIPT = join(__dirname, 'pytorch-peer.py');

/**
 * The Python to run the peer with: `FEDCT_BENCH_PYTHON`, else Debian's /usr/bin/python3 (where
 * `apt install python3-torch` puts torch; a pyenv or venv `python3` first on PATH usually lacks it),
 * else `python3` from PATH.
 */
export function peerPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FEDCT_BENCH_PYTHON) return env.FEDCT_BENCH_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/**
 * Reads the peer's stdout. Throws PeerError for an `error` line (bad request, parameter counts that
 * differ) and for lines that are not the peer's JSON.
 */
export function parsePeerOutput(stdout: string): PeerOutput {
  const out: PeerOutput = { unavailable: null, info: {}, params: [], results: [] };
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line) as Record<string, unknown>;
    } catch (error) {
      throw new PeerError(`the PyTorch peer printed a line that is not JSON: ${line.slice(0, 200)}`, { cause: error });
    }
    const { kind, ...rest } = obj;
    if (kind === 'unavailable') out.unavailable = String(rest.reason);
    else if (kind === 'error') throw new PeerError(`PyTorch peer: ${String(rest.message)}`);
    else if (kind === 'info') out.info = rest;
    else if (kind === 'params') out.params.push({ model: String(rest.model), torch: Number(rest.torch), tfjs: typeof rest.tfjs === 'number' ? rest.tfjs : null });
    else if (kind === 'result' && typeof rest.metric === 'string' && typeof rest.value === 'number' && typeof rest.unit === 'string') {
      out.results.push(rest as PeerResult);
    } else throw new PeerError(`the PyTorch peer printed an unknown line: ${line.slice(0, 200)}`);
  }
  return out;
}

/**
 * Runs the peer and returns what it measured. A missing Python or PyTorch is an answer
 * (`unavailable`), not an error; a peer that fails or whose networks differ from fedct's throws PeerError.
 * The peer's stderr goes to this process' stderr. `python` defaults to {@link peerPython}; `env` to this process' environment.
 */
export async function runPytorchPeer(request: PeerRequest, options: { python?: string; env?: NodeJS.ProcessEnv } = {}): Promise<PeerOutput> {
  const env = options.env ?? process.env;
  const python = options.python ?? peerPython(env);
  const { code, stdout, spawnError } = await new Promise<{ code: number | null; stdout: string; spawnError: Error | null }>((resolve) => {
    const child = spawn(python, [PEER_SCRIPT, JSON.stringify(request)], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let text = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => void (text += chunk));
    // A Python that cannot be started answers 'error' (and maybe 'close' after it): the first one counts.
    child.on('error', (error) => resolve({ code: null, stdout: text, spawnError: error }));
    child.on('close', (status) => resolve({ code: status, stdout: text, spawnError: null }));
  });
  if (spawnError) {
    return { unavailable: `no Python to run the PyTorch peer (${python}: ${spawnError.message}); set FEDCT_BENCH_PYTHON`, info: {}, params: [], results: [] };
  }
  const output = parsePeerOutput(stdout);
  if (code !== 0) throw new PeerError(`the PyTorch peer (${python} ${PEER_SCRIPT}) exited with status ${code}`);
  return output;
}

/**
 * fedct's speed over PyTorch's for the same measurement: > 1 means fedct is faster. Null when either
 * is missing or not a positive finite number.
 */
export function speedRatio(fedct: number | undefined, pytorch: number | undefined): number | null {
  if (fedct === undefined || pytorch === undefined) return null;
  if (!(Number.isFinite(fedct) && Number.isFinite(pytorch) && fedct > 0 && pytorch > 0)) return null;
  return fedct / pytorch;
}
