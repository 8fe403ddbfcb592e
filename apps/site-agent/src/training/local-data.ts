import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelBlob } from '@fedct/protocol';
import { LABEL_INDEX, type Split, type StudyRecord } from '../data/dataset-index';
import type { SiteFolder } from '../site/site-folder';
import type { InfectionSize, LabelledVolume, SliceSet, TrainingEngine } from './training-engine';

/** Number of local samples a phase would train on (slices for the denoiser, studies for the classifier). */
export function localSampleCount(site: SiteFolder, phase: 'denoiser' | 'classifier'): number {
  if (phase === 'denoiser') return site.index.list({ label: 'control', split: 'train' }).reduce((n, s) => n + s.shape[0], 0);
  return site.index.list({ split: 'train' }).length;
}

/** All slices of the control studies of one split, stacked (n, 128, 128). */
export function controlSlices(site: SiteFolder, split: Split): SliceSet {
  const studies = site.index.list({ label: 'control', split });
  const cache = site.volumes;
  const volumes = studies.map((s) => cache.get(s.volumeSha256));
  const first = volumes[0];
  const height = first?.header.shape[1] ?? 128;
  const width = first?.header.shape[2] ?? 128;
  const count = volumes.reduce((n, v) => n + (v.header.shape[0] ?? 0), 0);
  const data = new Float32Array(count * height * width);
  let offset = 0;
  for (const v of volumes) {
    data.set(v.data, offset);
    offset += v.data.length;
  }
  return { data, count, height, width };
}

/**
 * Infection volumes of the studies of one split for a frozen BCDU-Net, cached on disk per BCDU-Net
 * sha256 (`cache/infection/<denoiserSha>/<volumeSha>[.d<depth>][.s<size>].f32` + `.json`): a new global denoiser means
 * new infection volumes, the same one means none are recomputed.
 */
export async function infectionVolumes(
  site: SiteFolder,
  engine: TrainingEngine,
  denoiser: { blob: ModelBlob; sha256: string },
  split: Split,
  input?: InfectionSize,
  onProgress?: (done: number, total: number) => void,
): Promise<LabelledVolume[]> {
  const studies = site.index.list({ split });
  const out: LabelledVolume[] = [];
  for (const [i, study] of studies.entries()) {
    out.push({ ...(await infectionOf(site, engine, denoiser, study, input)), label: LABEL_INDEX[study.label] });
    onProgress?.(i + 1, studies.length);
  }
  return out;
}

/**
 * The site's own studies of one scanner model, every split and then the unlabeled archive (each
 * volume once, at most `limit`, in import order), as infection volumes (cached as above), without
 * labels: what site-local BatchNorm statistics are computed from.
 */
export async function scannerVolumes(
  site: SiteFolder,
  engine: TrainingEngine,
  denoiser: { blob: ModelBlob; sha256: string },
  scanner: string,
  input?: InfectionSize,
  limit = Number.POSITIVE_INFINITY,
): Promise<{ data: Float32Array; shape: [number, number, number] }[]> {
  const out: { data: Float32Array; shape: [number, number, number] }[] = [];
  const seen = new Set<string>();
  for (const study of [...site.index.list({ scanner }), ...site.index.listArchive({ scanner })]) {
    if (out.length >= limit) break;
    if (seen.has(study.volumeSha256)) continue;
    seen.add(study.volumeSha256);
    out.push(await infectionOf(site, engine, denoiser, study, input));
  }
  return out;
}

/** The infection volume of one study (from the cache when present). */
export async function infectionOf(
  site: SiteFolder,
  engine: TrainingEngine,
  denoiser: { blob: ModelBlob; sha256: string },
  study: Pick<StudyRecord, 'volumeSha256'>,
  input: InfectionSize = {},
): Promise<{ data: Float32Array; shape: [number, number, number] }> {
  const dir = join(site.paths.infection, denoiser.sha256);
  const { depth, size } = input;
  const name = `${study.volumeSha256}${depth ? `.d${depth}` : ''}${size ? `.s${size}` : ''}`;
  const file = join(dir, `${name}.f32`);
  const header = join(dir, `${name}.json`);
  if (existsSync(file) && existsSync(header)) {
    const shape = (JSON.parse(readFileSync(header, 'utf8')) as { shape: [number, number, number] }).shape;
    const bytes = readFileSync(file);
    const fits = (!depth || shape[0] === depth) && (!size || (shape[1] === size && shape[2] === size));
    if (fits && bytes.length === shape[0] * shape[1] * shape[2] * 4) {
      const data = new Float32Array(bytes.length / 4);
      new Uint8Array(data.buffer).set(bytes);
      return { data, shape };
    }
  }
  const volume = site.volumes.get(study.volumeSha256);
  const shape = volume.header.shape as [number, number, number];
  const infection = await engine.extractInfection({ denoiser: denoiser.blob, volume: volume.data, shape, ...input });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(`${header}.tmp`, JSON.stringify({ shape: infection.shape, denoiserSha256: denoiser.sha256 }), { mode: 0o600 });
  renameSync(`${header}.tmp`, header);
  writeFileSync(`${file}.tmp`, new Uint8Array(infection.data.buffer, infection.data.byteOffset, infection.data.byteLength), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return infection;
}
