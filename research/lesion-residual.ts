import { readFileSync } from 'node:fs';
import { CLASS_NAMES, decodeModelBlob, type ClassName } from '@fedct/protocol';
import { extractInfection, generatePhantomStudy, initBackend, preprocessStudy } from '@fedct/pipeline';
import { exitWithUsageError, parseArgs } from './args';

/** The classes with lesions: every class but Control. */
const LESION_CLASSES = CLASS_NAMES.filter((c): c is Exclude<ClassName, 'control'> => c !== 'control');

/**
 * `node scripts/run-ts.js research/lesion-residual.ts NAME=DENOISER.fctm ...`: how much of each lesion
 * type a denoiser takes out, i.e. shows in the infection map x − D(x). A lesion is where a Covid-19 or
 * CAP phantom differs from the same patient's control phantom (the generator draws the anatomy from
 * the seed alone); the share is the lesion's residual beyond the control's, over its intensity lift,
 * for 4 patients × 2 scanner models at the default profile's 64². A diagnostic, not part of the product.
 */
async function main(): Promise<void> {
  const { positionals: runs } = parseArgs({ usage: 'node scripts/run-ts.js research/lesion-residual.ts NAME=DENOISER.fctm ...', options: {}, positionals: true });
  if (runs.length === 0) exitWithUsageError('expected NAME=DENOISER.fctm ...');
  await initBackend();
  for (const run of runs) {
    const [name, file] = run.split('=');
    if (!name || !file) throw new Error(`expected NAME=DENOISER.fctm, got "${run}"`);
    const denoiser = decodeModelBlob(new Uint8Array(readFileSync(file)));
    const out = Object.fromEntries(LESION_CLASSES.map((cls) => [cls, [] as number[]])) as Record<(typeof LESION_CLASSES)[number], number[]>;
    for (const seed of [11, 12, 13, 14]) {
      for (const scanner of ['siemens-definition', 'ge-lightspeed']) {
        const c = await preprocessStudy(generatePhantomStudy({ cls: 'control', seed, scanner, slices: 16 }));
        const rc = await extractInfection({ denoiser, volume: c.data, shape: c.shape, depth: c.shape[0], size: 64 });
        for (const cls of LESION_CLASSES) {
          const v = await preprocessStudy(generatePhantomStudy({ cls, seed, scanner, slices: 16 }));
          const r = await extractInfection({ denoiser, volume: v.data, shape: v.shape, depth: v.shape[0], size: 64 });
          // image difference at 64² (block means of 2×2), the lesion mask where it exceeds 0.05
          const [d, h, w] = v.shape;
          let inLesion = 0, n = 0, lift = 0, ctrl = 0;
          for (let z = 0; z < d; z++) for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) {
            let diff = 0;
            for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
              const i = (z * h + (2 * y + dy!)) * w + (2 * x + dx!);
              diff += (v.data[i]! - c.data[i]!) / 4;
            }
            if (diff > 0.05) {
              const j = (z * 64 + y) * 64 + x;
              inLesion += r.data[j]!; ctrl += rc.data[j]!; lift += diff; n++;
            }
          }
          // share of the lesion's lift that stays in the residual (beyond the control's residual there)
          out[cls].push(n ? (inLesion - ctrl) / lift : NaN);
        }
      }
    }
    const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
    const shares = LESION_CLASSES.map((cls) => `${cls} ${mean(out[cls]).toFixed(3)} [${out[cls].map((x) => x.toFixed(2)).join(' ')}]`);
    console.log(`${name}: share of the lesion's intensity in the residual: ${shares.join(', ')}`);
  }
}
main().catch((e: unknown) => { console.error(e); process.exit(1); });
