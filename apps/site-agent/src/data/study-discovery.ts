import { readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

/** One candidate study found under an import path: a NIfTI file, or the image files of one folder. */
export interface StudyCandidate {
  /** A stable key for the candidate: the NIfTI file or the folder. */
  sourcePath: string;
  files: string[];
  kind: 'dicom' | 'nifti';
}

const NOT_IMAGES = /^(license.*|readme.*|dicomdir|.*\.(txt|md|json|ya?ml|csv|pdf|html?|xml|png|jpe?g|zip|tar|gz|sh|py|log))$/i;
const NIFTI = /\.nii(\.gz)?$/i;

/**
 * Finds candidate studies under `path` without reading pixel data: every NIfTI file is one candidate,
 * and the remaining files of each folder (DICOM, with or without `.dcm`) form one candidate. Hidden
 * files and obvious non-image files (licences, readme, text) are left out. Sorted, so runs agree.
 */
export function discoverStudies(path: string): StudyCandidate[] {
  const root = resolve(path);
  const out: StudyCandidate[] = [];
  const stat = statSync(root);
  if (stat.isFile()) {
    return [{ sourcePath: root, files: [root], kind: NIFTI.test(root) ? 'nifti' : 'dicom' }];
  }
  // Symbolic links are followed (PACS exports, mounted shares); each folder once by its real path, so a link loop ends.
  const seen = new Set<string>();
  const walk = (dir: string): void => {
    const real = realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    const dicom: string[] = [];
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      const kind = entry.isSymbolicLink() ? statSync(full, { throwIfNoEntry: false }) : entry;
      if (!kind) continue;
      if (kind.isDirectory()) {
        walk(full);
      } else if (kind.isFile()) {
        if (NIFTI.test(entry.name)) out.push({ sourcePath: full, files: [full], kind: 'nifti' });
        else if (!NOT_IMAGES.test(basename(entry.name))) dicom.push(full);
      }
    }
    if (dicom.length > 0) out.push({ sourcePath: dir, files: dicom, kind: 'dicom' });
  };
  walk(root);
  return out.sort((a, b) => a.sourcePath.localeCompare(b.sourcePath));
}
