import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { fingerprint, fromBase64, publicIdentity, type Identity } from '@fedct/crypto';
import type { EnrollRequest, EnrollResult, EnrollmentTokenResult, Heartbeat } from '@fedct/protocol';
import { AuditService } from '../core/audit.service';
import { CoordinatorError } from '../core/errors';
import { COORDINATOR_IDENTITY } from '../core/identity';
import { SessionRegistry } from '../core/sessions.service';
import { SitesRepository, type SiteRow } from './sites.repository';

/** A site as the admin API shows it. */
export interface SiteView {
  id: string;
  name: string;
  fingerprint: string;
  signingPublicKey: string;
  boxPublicKey: string;
  enrolledAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
  lastSeen: string | null;
  online: boolean;
  backend: string | null;
  gpu: boolean | null;
  datasets: Record<string, number> | null;
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function decodeKey(text: string, field: string): Uint8Array {
  let key: Uint8Array;
  try {
    key = fromBase64(text);
  } catch (cause) {
    throw new CoordinatorError(`${field} is not base64`, 'bad_message', 400, { cause });
  }
  if (key.length !== 32) throw new CoordinatorError(`${field} must be 32 bytes, got ${key.length}`, 'bad_message', 400);
  return key;
}

/** Enrolment tokens, enrolled sites, revocation, heartbeats. */
@Injectable()
export class SitesService {
  private readonly logger = new Logger(SitesService.name);

  constructor(
    @Inject(SitesRepository) private readonly repo: SitesRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(SessionRegistry) private readonly sessions: SessionRegistry,
    @Inject(COORDINATOR_IDENTITY) private readonly identity: Identity,
  ) {}

  /** A one-time enrolment token for `siteName`; only its hash is stored. */
  createEnrollmentToken(siteName: string, ttlSeconds: number): EnrollmentTokenResult {
    const token = randomBytes(24).toString('base64url');
    const now = new Date();
    const expiresAt = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
    this.repo.insertToken(hashToken(token), siteName, now.toISOString(), expiresAt);
    this.audit.record('admin', 'enrollment_token.created', { siteName, expiresAt });
    return { token, siteName, expiresAt };
  }

  /** Records a site that presents a valid, unused, unexpired token with its public keys. */
  enroll(request: EnrollRequest): EnrollResult {
    const signingKey = decodeKey(request.signingPublicKey, 'signingPublicKey');
    decodeKey(request.boxPublicKey, 'boxPublicKey');
    const tokenHash = hashToken(request.token);
    let result: { id: string; name: string };
    try {
      result = this.repo.transaction(() => {
        const row = this.repo.findToken(tokenHash);
        if (!row) throw new CoordinatorError('unknown enrolment token', 'forbidden', 403);
        if (row.used_at) throw new CoordinatorError('enrolment token was already used', 'forbidden', 403);
        if (Date.parse(row.expires_at) < Date.now()) throw new CoordinatorError(`enrolment token expired at ${row.expires_at}`, 'forbidden', 403);
        const existing = this.repo.idBySigningKey(request.signingPublicKey);
        if (existing) throw new CoordinatorError(`this signing key is already enrolled as ${existing}`, 'conflict', 409);
        const id = `site-${randomBytes(6).toString('hex')}`;
        const now = new Date().toISOString();
        this.repo.useToken(tokenHash, id, now);
        this.repo.insertSite({ id, name: row.site_name, signingPublicKey: request.signingPublicKey, boxPublicKey: request.boxPublicKey, enrolledAt: now });
        return { id, name: row.site_name };
      });
    } catch (error) {
      if (error instanceof CoordinatorError) this.audit.record('anonymous', 'site.enroll_refused', { reason: error.message });
      throw error;
    }
    const fp = fingerprint(signingKey);
    this.audit.record(`site:${result.id}`, 'site.enrolled', { siteId: result.id, siteName: result.name, fingerprint: fp });
    this.sessions.adminEmit('site', { siteId: result.id, siteName: result.name, event: 'enrolled' });
    this.logger.log(`enrolled ${result.name} as ${result.id} (${fp})`);
    const pub = publicIdentity(this.identity);
    return {
      siteId: result.id,
      siteName: result.name,
      coordinator: { ...pub, fingerprint: fingerprint(this.identity.signing.publicKey) },
    };
  }

  list(): SiteView[] {
    return this.repo.list().map((r) => this.view(r));
  }

  /** The site, or null when no such site was ever enrolled. */
  find(id: string): SiteView | null {
    const row = this.repo.find(id);
    return row ? this.view(row) : null;
  }

  /**
   * True when the site was revoked (or never enrolled). One indexed lookup of one column: the gateway
   * asks before every message a site sends, so this avoids building a whole {@link SiteView}.
   */
  isRevokedOrUnknown(id: string): boolean {
    const revokedAt = this.repo.revokedAt(id);
    return revokedAt === undefined || revokedAt !== null;
  }

  get(id: string): SiteView {
    const site = this.find(id);
    if (!site) throw new CoordinatorError(`no site ${id}`, 'not_found', 404);
    return site;
  }

  /** Revokes a site: its sessions are closed at once and it is refused from now on. */
  revoke(id: string, reason: string): SiteView {
    const site = this.get(id);
    if (!site.revokedAt) {
      this.repo.revoke(id, new Date().toISOString(), reason);
      this.audit.record('admin', 'site.revoked', { siteId: id, reason });
      this.sessions.adminEmit('site', { siteId: id, siteName: site.name, event: 'revoked', detail: reason });
      this.logger.log(`revoked ${id}: ${reason}`);
    }
    this.sessions.revoked(id, reason);
    return this.get(id);
  }

  heartbeat(id: string, heartbeat: Heartbeat): void {
    this.repo.heartbeat(id, new Date().toISOString(), heartbeat.backend, heartbeat.gpu, heartbeat.datasets);
  }

  touch(id: string): void {
    this.repo.touch(id, new Date().toISOString());
  }

  private view(r: SiteRow): SiteView {
    return {
      id: r.id,
      name: r.name,
      fingerprint: fingerprint(fromBase64(r.signing_public_key)),
      signingPublicKey: r.signing_public_key,
      boxPublicKey: r.box_public_key,
      enrolledAt: r.enrolled_at,
      revokedAt: r.revoked_at,
      revokeReason: r.revoke_reason,
      lastSeen: r.last_seen,
      online: this.sessions.isOnline(r.id),
      backend: r.backend,
      gpu: r.gpu === null ? null : r.gpu === 1,
      datasets: r.datasets ? (JSON.parse(r.datasets) as Record<string, number>) : null,
    };
  }
}
