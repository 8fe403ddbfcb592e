import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { generateIdentity, IDENTITY_FILE, loadIdentity, saveIdentity, type Identity } from '@fedct/crypto';

/** Injection token of the coordinator's own key pairs (sites pin the public halves at enrolment). */
export const COORDINATOR_IDENTITY = Symbol('COORDINATOR_IDENTITY');

/** Loads `dataDir/identity/identity.key`, creating it (mode 0600) on first start. */
export function loadOrCreateIdentity(dataDir: string): Identity {
  const dir = join(dataDir, 'identity');
  if (existsSync(join(dir, IDENTITY_FILE))) return loadIdentity(dir);
  const identity = generateIdentity();
  saveIdentity(dir, identity);
  return identity;
}
