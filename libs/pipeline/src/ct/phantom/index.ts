/**
 * Seeded synthetic chest CT studies (issue 3 step 6): body and fat, muscle, ribs, spine and sternum,
 * lungs with vessel and airway trees, heart and aorta, liver/stomach under the diaphragm, the scanner
 * table; pathology for Covid-19 (bilateral peripheral multifocal ground glass, lower lobes first) and
 * CAP (unilateral lobar or segmental consolidation with air bronchograms). Written as real DICOM.
 *
 * scanners (profiles) → anatomy (the patient model, from the seed) → pathology (lesions, from seed
 * and class) → render (slices, noise, storage) → dicom (Part 10 files).
 */
export { PHANTOM_CLASSES, type PhantomClass, type PhantomLesion, type PhantomOptions, type PhantomStudy } from './types';
export { SCANNER_PROFILES, scannerProfile, type ScannerProfile } from './scanners';
export { generatePhantomStudy, generatePhantomVolume } from './generate';
export { writePhantomDicom } from './dicom';
