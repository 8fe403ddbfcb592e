import { timingSafeEqual, createHash } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { describeIssue } from '@fedct/protocol';
import type { z } from 'zod';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from './coordinator.config';
import { CoordinatorError } from './errors';
import { RateLimiter } from './rate-limiter';

export type Role = 'admin' | 'reader' | 'public';
const ROLE_KEY = 'fedct:role';

/** Who may call a route: `admin` (admin token), `reader` (admin or read-only token), `public`. */
export const Access = (role: Role) => SetMetadata(ROLE_KEY, role);

function sameToken(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Checks the bearer token against the route's {@link Access} role (admin by default) and the rate limit. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(RateLimiter) private readonly limiter: RateLimiter,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const role = this.reflector.getAllAndOverride<Role | undefined>(ROLE_KEY, [context.getHandler(), context.getClass()]) ?? 'admin';
    const request = context.switchToHttp().getRequest<Request>();
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const key = token ? `token:${createHash('sha256').update(token).digest('hex').slice(0, 16)}` : `ip:${request.ip ?? 'unknown'}`;
    if (!this.limiter.take(key)) throw new CoordinatorError('too many requests; slow down', 'rate_limited', 429);
    if (role === 'public') return true;
    const isAdmin = token !== '' && sameToken(token, this.config.adminToken);
    const isReader = token !== '' && this.config.readOnlyToken !== undefined && sameToken(token, this.config.readOnlyToken);
    if (!token) throw new CoordinatorError('missing bearer token (Authorization: Bearer <admin token>)', 'unauthenticated', 401);
    if (role === 'admin' && !isAdmin) {
      throw new CoordinatorError(isReader ? 'the read-only token cannot change anything' : 'invalid bearer token', 'forbidden', isReader ? 403 : 401);
    }
    if (role === 'reader' && !isAdmin && !isReader) throw new CoordinatorError('invalid bearer token', 'forbidden', 401);
    return true;
  }
}

/** Validates a request body with a zod schema; a failure is a 400 naming the field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body ?? {});
  if (!result.success) throw new CoordinatorError(describeIssue(result.error), 'bad_message', 400, { cause: result.error });
  return result.data;
}
