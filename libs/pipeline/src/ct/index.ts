export * from './errors';
export * from './types';
export { TRANSFER_SYNTAX, isSupportedTransferSyntax, decodeRle } from './codecs';
export { parseDicomBuffer, readFrameHu, storedToHu, type FrameHeader, type ParsedDicom } from './dicom-file';
export { sortSeries, sliceNormal, obliquityDegrees, MAX_OBLIQUITY_DEGREES, type SortedSeries } from './geometry';
export { readNifti } from './nifti';
export { readStudy, openStudy, studySource, type ReadStudyOptions, type SliceSource } from './read-study';
export * from './resample';
export * from './preprocess';
