/** A configuration file or value that does not match its schema; `message` is one line for a person. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A message on the wire that does not match the protocol. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    message: string,
    readonly code: string = 'bad_message',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
