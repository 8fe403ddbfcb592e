/** Why a CT study could not be read; stable for programs, the message is for people. */
export type DicomErrorCode =
  | 'empty'
  | 'not_found'
  | 'not_dicom'
  | 'truncated'
  | 'no_pixel_data'
  | 'not_ct'
  | 'too_few_slices'
  | 'unsupported_transfer_syntax'
  | 'unsupported_pixel_format'
  | 'bad_geometry'
  | 'decode_failed'
  | 'nifti'
  | 'invalid_argument';

/**
 * A study that cannot be used: `message` is one line saying what was wrong and what to do,
 * `code` is stable for programs, `file` names the file where it applies.
 */
export class DicomError extends Error {
  override readonly name = 'DicomError';
  constructor(
    message: string,
    readonly code: DicomErrorCode,
    options?: { cause?: unknown; file?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.file = options?.file;
  }
  readonly file: string | undefined;
}
