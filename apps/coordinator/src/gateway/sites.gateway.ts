import { randomBytes } from 'node:crypto';
import { Inject, Logger, type OnModuleInit } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayDisconnect, WebSocketGateway } from '@nestjs/websockets';
import { fromBase64, publicIdentity, verifyDetached, type Identity } from '@fedct/crypto';
import {
  AUTH_TIMEOUT_MS,
  CHALLENGE_TTL_MS,
  SITES_NAMESPACE,
  authMessage,
  authRequestSchema,
  describeIssue,
  fail,
  heartbeatSchema,
  secAggMessageSchema,
  modelChunkRequestSchema,
  modelManifestRequestSchema,
  ok,
  taskFailSchema,
  updateBeginSchema,
  updateChunkSchema,
  updateCommitSchema,
  type AuthResult,
  type Reply,
  type SiteToCoordinatorEvents,
} from '@fedct/protocol';
import { z } from 'zod';
import { AuditService } from '../core/audit.service';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { CoordinatorError } from '../core/errors';
import { COORDINATOR_IDENTITY } from '../core/identity';
import { MetricsService } from '../core/metrics.service';
import { SessionRegistry, type SiteSocket } from '../core/sessions.service';
import { RoundsService } from '../experiments/rounds.service';
import { UploadsService } from '../experiments/uploads.service';
import { ModelsService } from '../models/models.service';
import { SitesService } from '../sites/sites.service';

type Handler<S extends z.ZodType, R> = (socket: SiteSocket, payload: z.output<S>, siteId: string) => R;

/**
 * The `/sites` namespace (see @fedct/protocol `messages.ts` for the session contract). Every inbound
 * payload is validated with its zod schema; every acknowledgement is a `Reply`.
 */
@WebSocketGateway({ namespace: SITES_NAMESPACE })
export class SitesGateway implements OnGatewayConnection, OnGatewayDisconnect, OnModuleInit {
  private readonly logger = new Logger(SitesGateway.name);

  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    @Inject(SitesService) private readonly sites: SitesService,
    @Inject(SessionRegistry) private readonly sessions: SessionRegistry,
    @Inject(RoundsService) private readonly rounds: RoundsService,
    @Inject(UploadsService) private readonly uploads: UploadsService,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(COORDINATOR_IDENTITY) private readonly identity: Identity,
  ) {}

  onModuleInit(): void {
    this.metrics.defineGauge('fedct_sites_online', 'Sites with an authenticated connection.', () => this.sessions.online().length);
  }

  handleConnection(socket: SiteSocket): void {
    const timer = setTimeout(() => {
      if (!socket.data.siteId) socket.disconnect(true);
    }, AUTH_TIMEOUT_MS);
    socket.once('disconnect', () => clearTimeout(timer));

    socket.on('challenge', (_payload, ack) => {
      if (typeof ack !== 'function') return;
      const value = randomBytes(32).toString('base64');
      socket.data.challenge = { value, expires: Date.now() + CHALLENGE_TTL_MS };
      ack(ok({ challenge: value }));
    });
    socket.on('auth', (payload, ack) => {
      if (typeof ack !== 'function') return;
      const reply = this.authenticate(socket, payload);
      ack(reply);
      if (!reply.ok) setTimeout(() => socket.disconnect(true), 10);
    });

    this.on(socket, 'heartbeat', heartbeatSchema, (_s, hb, siteId) => {
      this.sites.heartbeat(siteId, hb);
      this.sessions.adminEmit('site', { siteId, siteName: this.sites.find(siteId)?.name ?? siteId, event: 'heartbeat' });
      return { time: new Date().toISOString() };
    });
    this.on(socket, 'task.current', z.object({}).passthrough(), (_s, _p, siteId) => this.rounds.currentTask(siteId));
    this.on(socket, 'task.fail', taskFailSchema, (_s, p, siteId) => {
      const active = this.rounds.round(p.experiment);
      if (!active || active.round !== p.round) throw new CoordinatorError(`round ${p.round} of ${p.experiment} is not open`, 'round_closed');
      this.audit.record(`site:${siteId}`, 'task.failed', { experiment: p.experiment, round: p.round, reason: p.reason });
      this.rounds.markSite(active, siteId, 'failed', p.reason);
      return { recorded: true as const };
    });
    this.on(socket, 'model.manifest', modelManifestRequestSchema, (_s, p) => {
      if (!this.models.isRegistered(p.sha256)) throw new CoordinatorError(`no registered model ${p.sha256.slice(0, 12)}`, 'not_found');
      return this.models.store.chunkManifest(p.sha256, this.config.chunkSize);
    });
    this.on(socket, 'model.chunk', modelChunkRequestSchema, (_s, p) => {
      if (!this.models.isRegistered(p.sha256)) throw new CoordinatorError(`no registered model ${p.sha256.slice(0, 12)}`, 'not_found');
      const manifest = this.models.store.chunkManifest(p.sha256, this.config.chunkSize);
      if (p.index >= manifest.count) throw new CoordinatorError(`chunk ${p.index} is out of range (0..${manifest.count - 1})`, 'bad_chunk');
      const bytes = this.models.store.readChunk(p.sha256, p.index, this.config.chunkSize);
      this.metrics.inc('fedct_bytes_out_total', bytes.length);
      return { index: p.index, bytes };
    });
    this.on(socket, 'update.begin', updateBeginSchema, (_s, p, siteId) => this.uploads.begin(siteId, p));
    this.on(socket, 'update.chunk', updateChunkSchema, (_s, p, siteId) => this.uploads.chunk(siteId, p));
    this.on(socket, 'update.commit', updateCommitSchema, (_s, p, siteId) => this.uploads.commit(siteId, p.uploadId));
    // Validated by the round (evaluation.ts's schema), which audits a malformed result.
    this.on(socket, 'evaluation.result', z.unknown(), (_s, p, siteId) => this.rounds.submitEvaluation(siteId, p));
    for (const event of ['secagg:advertise-keys', 'secagg:share-keys', 'secagg:consistency-check', 'secagg:unmask'] as const) {
      this.on(socket, event, secAggMessageSchema, (_s, p, siteId) => {
        this.rounds.secAggMessage(siteId, p);
        return { received: true as const };
      });
    }
  }

  handleDisconnect(socket: SiteSocket): void {
    const siteId = socket.data.siteId;
    if (!siteId) return;
    this.sessions.remove(siteId, socket);
    if (!this.sessions.isOnline(siteId)) this.sessions.adminEmit('site', { siteId, siteName: this.sites.find(siteId)?.name ?? siteId, event: 'offline' });
  }

  private authenticate(socket: SiteSocket, payload: unknown): Reply<AuthResult> {
    const parsed = authRequestSchema.safeParse(payload);
    if (!parsed.success) return fail('bad_message', describeIssue(parsed.error));
    const { siteId, signature } = parsed.data;
    const challenge = socket.data.challenge;
    socket.data.challenge = undefined;
    const refuse = (code: 'unknown_site' | 'revoked' | 'bad_signature' | 'expired_challenge', message: string) => {
      this.metrics.inc('fedct_auth_failures_total', 1, { code });
      this.audit.record('anonymous', 'session.refused', { siteId, code, address: socket.handshake.address });
      return fail(code, message);
    };
    if (!challenge || challenge.expires < Date.now()) return refuse('expired_challenge', 'ask for a challenge first and answer it within 30 s');
    const site = this.sites.find(siteId);
    if (!site) return refuse('unknown_site', `site ${siteId} is not enrolled`);
    if (site.revokedAt) return refuse('revoked', `site ${siteId} was revoked: ${site.revokeReason ?? ''}`);
    let valid = false;
    try {
      valid = verifyDetached(authMessage(challenge.value, siteId), fromBase64(signature), fromBase64(site.signingPublicKey));
    } catch {
      valid = false;
    }
    if (!valid) return refuse('bad_signature', 'the challenge signature does not verify with the enrolled key');
    socket.data.siteId = siteId;
    this.sessions.add(siteId, socket);
    this.sites.touch(siteId);
    this.audit.record(`site:${siteId}`, 'session.opened', { address: socket.handshake.address });
    this.sessions.adminEmit('site', { siteId, siteName: site.name, event: 'online' });
    const latestModels = { denoiser: this.models.latestPublished('denoiser'), classifier: this.models.latestPublished('classifier') };
    return ok({ siteId, siteName: site.name, coordinator: publicIdentity(this.identity), latestModels });
  }

  /** Registers a validated, authenticated handler whose result (or CoordinatorError) becomes the reply. */
  private on<S extends z.ZodType, R>(socket: SiteSocket, event: keyof SiteToCoordinatorEvents, schema: S, handler: Handler<S, R>): void {
    const listener = (payload: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return;
      const reply = ack as (r: Reply<R>) => void;
      const siteId = socket.data.siteId;
      if (!siteId) return reply(fail('unauthenticated', 'authenticate first (challenge, then auth)'));
      if (this.sites.isRevokedOrUnknown(siteId)) {
        reply(fail('revoked', 'this site was revoked'));
        socket.disconnect(true);
        return;
      }
      const parsed = schema.safeParse(payload);
      if (!parsed.success) return reply(fail('bad_message', `${event}: ${describeIssue(parsed.error)}`));
      const failed = (error: unknown): void => {
        if (error instanceof CoordinatorError && error.code !== 'forbidden' && error.code !== 'conflict' && error.code !== 'rate_limited' && error.code !== 'invalid_state') {
          reply(fail(error.code, error.message));
        } else {
          this.logger.error(`${event} from ${siteId}: ${(error as Error).stack ?? String(error)}`);
          reply(fail('internal', 'internal error'));
        }
      };
      try {
        const result = handler(socket, parsed.data, siteId);
        if (result instanceof Promise) result.then((data: Awaited<R>) => reply(ok(data as R)), failed);
        else reply(ok(result));
      } catch (error) {
        failed(error);
      }
    };
    (socket as unknown as { on(event: string, listener: (payload: unknown, ack: unknown) => void): void }).on(event, listener);
  }
}
