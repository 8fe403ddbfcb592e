/** A compute backend could not be started, or a kernel was called with arguments it does not support. */
export class BackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendError';
  }
}
