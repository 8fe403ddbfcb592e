import { decodeModelBlob, encodeModelBlob, sha256Hex } from '@fedct/protocol';
import type { BenchSuite } from './types';

/** Model blob encode + hash + decode for a BCDU-Net-sized weight vector (5,167,365 floats). */
const run: BenchSuite = async function* ({ quick }) {
  const n = 5_167_365;
  const weights = new Float32Array(n).map((_, i) => Math.sin(i));
  const manifest = { model: 'bench', config: {}, tensors: [{ name: 'w', shape: [n] }] };
  const reps = quick ? 2 : 5;
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) {
    const bytes = encodeModelBlob({ manifest, weights });
    sha256Hex(bytes);
    decodeModelBlob(bytes);
  }
  const seconds = (performance.now() - t0) / 1000;
  yield { metric: 'model_blob.roundtrip.mb_per_s', value: (reps * n * 4) / 1e6 / seconds, unit: 'MB/s', params: n };
};
export default run;
