/**
 * Protocol constants for secure aggregation (Bonawitz et al., CCS 2017, with the SecAgg+ neighbour
 * graph of Bell et al., CCS 2020). The coordinator sends each stage's request as a socket.io event
 * named by {@link SECAGG_EVENTS} and expects the reply of the matching stage.
 */

/** The stages of one secure aggregation round, in order. */
export const SecAggStage = {
  /** Site → server: fresh X25519 keys for share encryption and for pairwise masks, signed. */
  AdvertiseKeys: 'advertise-keys',
  /** Site → server: Shamir shares of the mask key and self-mask seed, encrypted to each neighbour. */
  ShareKeys: 'share-keys',
  /** Site → server: the masked, quantised update (bytes travel separately, see MaskedInputMessage). */
  MaskedInput: 'masked-input',
  /** Site → server: the site's signature over the list of sites whose masked input arrived. */
  ConsistencyCheck: 'consistency-check',
  /** Site → server: shares that let the server remove self masks of survivors and pair masks of dropouts. */
  Unmask: 'unmask',
} as const;
export type SecAggStage = (typeof SecAggStage)[keyof typeof SecAggStage];

/** Server → site request kinds, one per stage after the first. */
export const SecAggRequest = {
  ShareKeys: 'share-keys-request',
  MaskedInput: 'masked-input-request',
  ConsistencyCheck: 'consistency-check-request',
  Unmask: 'unmask-request',
} as const;
export type SecAggRequest = (typeof SecAggRequest)[keyof typeof SecAggRequest];

/** socket.io event names for the stages (request and reply use the same name). */
export const SECAGG_EVENTS = {
  advertiseKeys: 'secagg:advertise-keys',
  shareKeys: 'secagg:share-keys',
  maskedInput: 'secagg:masked-input',
  consistencyCheck: 'secagg:consistency-check',
  unmask: 'secagg:unmask',
} as const;

/** Wire keys (JSON field names) used in secure aggregation messages. */
export const SecAggKey = {
  stage: 'stage',
  experiment: 'experiment',
  round: 'round',
  site: 'site',
  encryptionPublicKey: 'encryptionPublicKey',
  maskingPublicKey: 'maskingPublicKey',
  signature: 'signature',
  advertisements: 'advertisements',
  shares: 'shares',
  to: 'to',
  from: 'from',
  ciphertext: 'ciphertext',
  selfMaskCommitment: 'selfMaskCommitment',
  vectorLength: 'vectorLength',
  vectorSha256: 'vectorSha256',
  survivors: 'survivors',
  dropped: 'dropped',
  signatures: 'signatures',
  selfMaskShares: 'selfMaskShares',
  maskKeyShares: 'maskKeyShares',
  owner: 'owner',
  index: 'index',
  share: 'share',
} as const;

/** Domain-separation labels (part of the format: changing one breaks compatibility). */
export const SECAGG_DOMAIN = {
  context: 'fedct/secagg/v1/context',
  advertise: 'fedct/secagg/v1/advertise',
  consistency: 'fedct/secagg/v1/consistency',
  shareKey: 'fedct/secagg/v1/share-key',
  pairMask: 'fedct/secagg/v1/pair-mask',
  selfMask: 'fedct/secagg/v1/self-mask',
  commitment: 'fedct/secagg/v1/self-mask-commitment',
  graph: 'fedct/secagg/v1/graph',
} as const;

/** Fixed-point arithmetic is modulo 2^32: vectors are `Uint32Array`s, little-endian on the wire. */
export const SECAGG_MODULUS_BITS = 32;
