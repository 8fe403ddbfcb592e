import { ArgumentsHost, Catch, HttpException, type ExceptionFilter, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { ErrorCode } from '@fedct/protocol';

/** A refusal the coordinator explains to its caller: one-line `message`, a machine `code`, an HTTP status. */
export class CoordinatorError extends Error {
  override readonly name = 'CoordinatorError';
  constructor(
    message: string,
    readonly code: ErrorCode | 'forbidden' | 'conflict' | 'rate_limited' | 'invalid_state',
    readonly status = 400,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Renders every REST error as `{ statusCode, code, message }` with a one-line message. */
@Catch()
export class RestExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    if (error instanceof CoordinatorError) {
      response.status(error.status).json({ statusCode: error.status, code: error.code, message: error.message });
      return;
    }
    if (error instanceof HttpException) {
      const status = error.getStatus();
      const body = error.getResponse();
      const message = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : error.message;
      response.status(status).json({ statusCode: status, code: status === 404 ? 'not_found' : 'bad_message', message });
      return;
    }
    this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    response.status(500).json({ statusCode: 500, code: 'internal', message: 'internal error' });
  }
}
