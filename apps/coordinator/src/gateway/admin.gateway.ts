import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import { ADMIN_NAMESPACE } from '@fedct/protocol';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { type AdminNamespace, SessionRegistry } from '../core/sessions.service';

function matches(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * The `/admin` namespace for the dashboard: push-only `round`, `site` and `experiment` events.
 * The handshake must carry `auth: { token }` with the admin or read-only token.
 */
@WebSocketGateway({ namespace: ADMIN_NAMESPACE })
export class AdminGateway implements OnGatewayInit {
  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    @Inject(SessionRegistry) private readonly sessions: SessionRegistry,
  ) {}

  afterInit(namespace: AdminNamespace): void {
    namespace.use((socket, next) => {
      const auth = socket.handshake.auth as { token?: unknown } | undefined;
      const token = typeof auth?.token === 'string' ? auth.token : '';
      if (token && (matches(token, this.config.adminToken) || matches(token, this.config.readOnlyToken))) return next();
      next(new Error('unauthorized: pass auth: { token } with the admin or read-only token'));
    });
    this.sessions.setAdminNamespace(namespace);
  }
}
