/** Training or evaluation was asked to do something impossible (no data, mismatched shapes, ...). */
export class TrainError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrainError';
  }
}
