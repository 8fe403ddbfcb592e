import { signDetached, toBase64 } from '@fedct/crypto';
import { authMessage, type AuthResult, type Reply } from '@fedct/protocol';
import { request, type SiteSocket } from './socket';

/**
 * Authenticates a connected socket: asks for a challenge and answers it signed with the site's
 * enrolled Ed25519 key (`authMessage`). Resolves with the coordinator's reply (a refusal included).
 */
export async function authenticate(socket: SiteSocket, siteId: string, signingSecretKey: Uint8Array, timeoutMs = 10_000): Promise<Reply<AuthResult>> {
  const challenge = await request(socket, 'challenge', {}, timeoutMs);
  if (!challenge.ok) return challenge;
  const signature = toBase64(signDetached(authMessage(challenge.data.challenge, siteId), signingSecretKey));
  return request(socket, 'auth', { siteId, signature }, timeoutMs);
}

/** Waits until the socket is connected (or fails with the connection error). */
export function connected(socket: SiteSocket): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
    socket.connect();
  });
}
