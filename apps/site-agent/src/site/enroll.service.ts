import { fingerprint, fromBase64, publicIdentity } from '@fedct/crypto';
import type { EnrollResult } from '@fedct/protocol';
import { CoordinatorLinkError } from '../util/errors';
import type { Enrollment, SiteFolder } from './site-folder';

export interface EnrollOptions {
  coordinatorUrl: string;
  token: string;
  /** The coordinator fingerprint the admin gave out of band; enrolment fails if it differs. */
  expectFingerprint?: string;
  fetchImpl?: typeof fetch;
  now?: () => Date;
}

/**
 * Enrols the site with the coordinator (`POST /api/enroll` with the one-time token and the site's
 * public keys) and pins the coordinator's public keys in `DIR/enrollment.json`. The coordinator's
 * fingerprint is recomputed here from its key, and compared with `expectFingerprint` when given.
 */
export async function enrollSite(site: SiteFolder, options: EnrollOptions): Promise<Enrollment> {
  const base = options.coordinatorUrl.replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(`${base}/api/enroll`);
  } catch (cause) {
    throw new CoordinatorLinkError(`--coordinator must be a URL like https://coordinator.example.org, got "${options.coordinatorUrl}"`, 'bad_url', { cause });
  }
  const keys = publicIdentity(site.identity());
  let response: Response;
  try {
    response = await (options.fetchImpl ?? fetch)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: options.token, signingPublicKey: keys.signingPublicKey, boxPublicKey: keys.boxPublicKey }),
    });
  } catch (cause) {
    throw new CoordinatorLinkError(`cannot reach the coordinator at ${base}: ${cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause)}`, 'unreachable', { cause });
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text.slice(0, 200);
    try {
      const body = JSON.parse(text) as { message?: unknown };
      if (typeof body.message === 'string') message = body.message;
      else if (Array.isArray(body.message)) message = body.message.join('; ');
    } catch {
      // not JSON: keep the text
    }
    throw new CoordinatorLinkError(`enrolment refused by the coordinator (HTTP ${response.status}): ${message.split('\n')[0] ?? ''}`, 'enroll_refused');
  }
  const result = JSON.parse(text) as EnrollResult;
  const computed = fingerprint(fromBase64(result.coordinator.signingPublicKey));
  if (computed !== result.coordinator.fingerprint) throw new CoordinatorLinkError('the coordinator\'s fingerprint does not match its key; not enrolling', 'bad_fingerprint');
  if (options.expectFingerprint && options.expectFingerprint.trim().toUpperCase() !== computed) {
    throw new CoordinatorLinkError(`the coordinator's fingerprint is ${computed}, expected ${options.expectFingerprint}; not enrolling`, 'bad_fingerprint');
  }
  if (fromBase64(result.coordinator.boxPublicKey).length !== 32) throw new CoordinatorLinkError('the coordinator sent a malformed box key', 'bad_key');
  const enrollment: Enrollment = {
    coordinatorUrl: base,
    siteId: result.siteId,
    siteName: result.siteName,
    coordinator: { signingPublicKey: result.coordinator.signingPublicKey, boxPublicKey: result.coordinator.boxPublicKey, fingerprint: computed },
    enrolledAt: (options.now ?? (() => new Date()))().toISOString(),
  };
  site.saveEnrollment(enrollment);
  return enrollment;
}
