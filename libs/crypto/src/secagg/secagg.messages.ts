import type { SecAggRequest, SecAggStage } from './secagg.constants';
import type { SecAggParams } from './secagg.params';

/** Fields every secure aggregation message carries, so a stray message from another round is refused. */
interface RoundTag {
  experiment: string;
  round: number;
}

/** Stage 0, site → server. Keys are fresh per round; the signature is by the site's enrolled key. */
export interface AdvertiseKeysMessage extends RoundTag {
  stage: typeof SecAggStage.AdvertiseKeys;
  site: string;
  /** X25519 public key for encrypting Shamir shares (base64). */
  encryptionPublicKey: string;
  /** X25519 public key for pairwise mask agreement (base64). */
  maskingPublicKey: string;
  /** Ed25519 signature (base64) over the advertise label, the round context and both keys. */
  signature: string;
}

/** Server → site before stage 1: the advertisements of the site's neighbours that are still present. */
export interface ShareKeysRequest extends RoundTag {
  stage: typeof SecAggRequest.ShareKeys;
  advertisements: AdvertiseKeysMessage[];
}

/** Stage 1, site → server: one encrypted share bundle per neighbour. */
export interface ShareKeysMessage extends RoundTag {
  stage: typeof SecAggStage.ShareKeys;
  site: string;
  /** `ciphertext` (base64) holds this site's shares for neighbour `to`; only `to` can decrypt it. */
  shares: { to: string; ciphertext: string }[];
  /** Hex SHA-256 commitment to the self-mask secret, so the server can check its reconstruction. */
  selfMaskCommitment: string;
}

/** Server → site before stage 2: the share bundles addressed to this site. */
export interface MaskedInputRequest extends RoundTag {
  stage: typeof SecAggRequest.MaskedInput;
  shares: { from: string; ciphertext: string }[];
}

/**
 * Stage 2, site → server. The masked vector itself ((d + 1) little-endian uint32, 4·(d+1) bytes) is
 * returned beside this message as bytes: send it as a sealed envelope payload in chunks.
 */
export interface MaskedInputMessage extends RoundTag {
  stage: typeof SecAggStage.MaskedInput;
  site: string;
  vectorLength: number;
  /** Hex SHA-256 of the masked vector's bytes. */
  vectorSha256: string;
}

/** Server → site before stage 3: the sites whose masked input the server received (U3). */
export interface ConsistencyCheckRequest extends RoundTag {
  stage: typeof SecAggRequest.ConsistencyCheck;
  survivors: string[];
}

/** Stage 3, site → server: the site's signature over the survivor list. */
export interface ConsistencyCheckMessage extends RoundTag {
  stage: typeof SecAggStage.ConsistencyCheck;
  site: string;
  signature: string;
}

/** Server → site before stage 4: survivors, dropouts (sent shares, no masked input), and the signatures. */
export interface UnmaskRequest extends RoundTag {
  stage: typeof SecAggRequest.Unmask;
  survivors: string[];
  dropped: string[];
  signatures: { site: string; signature: string }[];
}

/** One Shamir share a site reveals about `owner`'s secret. */
export interface RevealedShare {
  owner: string;
  index: number;
  /** base64 */
  share: string;
}

/** Stage 4, site → server: self-mask shares of surviving neighbours, mask-key shares of dropped ones. */
export interface UnmaskMessage extends RoundTag {
  stage: typeof SecAggStage.Unmask;
  site: string;
  selfMaskShares: RevealedShare[];
  maskKeyShares: RevealedShare[];
}

/** A site's private state between stages (plain JSON; holds secrets: keep it in memory only). */
export interface SiteSecAggState {
  /** The last stage this site completed. */
  stage: SecAggStage;
  params: SecAggParams;
  site: string;
  encryptionSecretKey: string;
  maskingSecretKey: string;
  /** Own advertisement (its keys must differ from every neighbour's). */
  advertisement: AdvertiseKeysMessage;
  selfMaskSecret?: string;
  /** Neighbours that advertised (U1 ∩ N(u)) → their public keys. */
  peers?: Record<string, { encryptionPublicKey: string; maskingPublicKey: string }>;
  /** Neighbours that shared (U2 ∩ N(u)) → the ciphertext they sent this site. */
  received?: Record<string, string>;
  /** The survivor list this site signed in the consistency check. */
  survivors?: string[];
}
