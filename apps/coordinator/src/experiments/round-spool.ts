import { Inject, Injectable } from '@nestjs/common';
import type { ModelManifest } from '@fedct/protocol';
import { WeightedSum, type StrategyState } from '@fedct/strategies';
import { STORAGE } from '../core/core.tokens';
import type { FileStorage } from '../core/storage';
import { SpoolPool } from './spool-pool';

/** A round's spool folder (`rounds/<experiment>/<round>/`). */
export type RoundDir = string;

/**
 * The round folders and their formats, and the strategies' saved state: the only part of the round
 * engine that touches files (through {@link FileStorage}).
 * - `manifest.json`: the tensors every update must have (round 1 without a base: the first update's).
 * - `<site>.sealed`: an accepted update's envelope as received (moved there from its upload spool
 *   file, not copied), for streaming strategies: a restarted coordinator opens it again.
 * - `<site>.f32`: an accepted update's decoded weights (float32 LE), for robust strategies, read back
 *   block by block.
 * - `sum.ckpt`: the running sum after the first `count` sites (see {@link writeCheckpoint}).
 * - `strategy/<experiment>/<version>.<key>.f32`: server optimiser state (FedAdam's m and v) as of a
 *   published version.
 */
@Injectable()
export class RoundSpool {
  constructor(
    @Inject(STORAGE) private readonly storage: FileStorage,
    @Inject(SpoolPool) private readonly spool: SpoolPool,
  ) {}

  /** The round's folder, created if needed. */
  open(experimentId: string, round: number): RoundDir {
    const dir = this.storage.path('rounds', experimentId, String(round));
    this.storage.ensureDir(dir);
    return dir;
  }

  readManifest(dir: RoundDir): ModelManifest | null {
    const file = `${dir}/manifest.json`;
    return this.storage.exists(file) ? (JSON.parse(Buffer.from(this.storage.read(file)).toString('utf8')) as ModelManifest) : null;
  }

  writeManifest(dir: RoundDir, manifest: ModelManifest): void {
    this.storage.writeAtomic(`${dir}/manifest.json`, Buffer.from(JSON.stringify(manifest)));
  }

  /** Keeps an accepted upload's envelope in the round (a rename of its spool file). */
  keepSealed(dir: RoundDir, siteId: string, uploadFile: string): void {
    this.storage.move(uploadFile, this.sealedPath(dir, siteId));
  }

  sealedPath(dir: RoundDir, siteId: string): string {
    return `${dir}/${siteId}.sealed`;
  }

  /** The envelope kept for `siteId`, or null when a crash lost it. */
  readSealed(dir: RoundDir, siteId: string): Uint8Array | null {
    const file = this.sealedPath(dir, siteId);
    return this.storage.exists(file) ? this.storage.read(file) : null;
  }

  /** Gives an envelope that is no longer needed back to the upload spool pool. */
  recycleSealed(dir: RoundDir, siteId: string): void {
    this.spool.recycle(this.sealedPath(dir, siteId));
  }

  /** Removes an envelope that is already in the checkpointed sum (left behind by a crash). */
  removeSealed(dir: RoundDir, siteId: string): void {
    this.storage.remove(this.sealedPath(dir, siteId));
  }

  writeWeights(dir: RoundDir, siteId: string, weights: Float32Array): void {
    this.storage.writeAtomic(`${dir}/${siteId}.f32`, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  }

  hasWeights(dir: RoundDir, siteId: string): boolean {
    return this.storage.exists(`${dir}/${siteId}.f32`);
  }

  /** Random access to the accepted updates' weights, one array per site (robust strategies). */
  blockReader(dir: RoundDir, siteIds: readonly string[]): { read: (offset: number, length: number) => Float32Array[]; close: () => void } {
    const files = siteIds.map((id) => this.storage.open(`${dir}/${id}.f32`, 'r'));
    return {
      read: (offset, length) =>
        files.map((file) => {
          const out = new Float32Array(length);
          const view = new Uint8Array(out.buffer);
          if (file.readAt(view, offset * 4) < view.length) throw new Error('spooled update is shorter than the model');
          return out;
        }),
      close: () => files.forEach((f) => f.close()),
    };
  }

  /**
   * Writes the running sum and the sites in it to `sum.ckpt` (atomically: temporary file, then
   * rename). Format: u32 LE header length, UTF-8 JSON header `{ length, count, totalWeight, sites }`,
   * spaces to a multiple of 8 bytes, then the float64 LE sum.
   */
  writeCheckpoint(dir: RoundDir, sum: WeightedSum, sites: readonly string[]): void {
    const header = Buffer.from(JSON.stringify({ length: sum.length, count: sum.count, totalWeight: sum.totalWeight, sites }), 'utf8');
    const prefix = Buffer.alloc(Math.ceil((4 + header.length) / 8) * 8, 0x20);
    prefix.writeUInt32LE(header.length, 0);
    header.copy(prefix, 4);
    this.storage.writeAtomicParts(`${dir}/sum.ckpt`, [prefix, new Uint8Array(sum.sum.buffer, sum.sum.byteOffset, sum.sum.byteLength)]);
  }

  /** The checkpoint, null when there is none, or why it cannot be read. */
  readCheckpoint(dir: RoundDir): { sum: WeightedSum; sites: string[] } | null | { problem: string } {
    const file = `${dir}/sum.ckpt`;
    if (!this.storage.exists(file)) return null;
    try {
      const bytes = Buffer.from(this.storage.read(file));
      const headerLength = bytes.readUInt32LE(0);
      const header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as { length: number; count: number; totalWeight: number; sites: string[] };
      const offset = Math.ceil((4 + headerLength) / 8) * 8;
      if (!Array.isArray(header.sites) || header.sites.length !== header.count || bytes.length !== offset + header.length * 8) return { problem: 'the checkpoint file is malformed' };
      const sum = new WeightedSum(header.length);
      new Uint8Array(sum.sum.buffer, sum.sum.byteOffset, sum.sum.byteLength).set(bytes.subarray(offset));
      sum.count = header.count;
      sum.totalWeight = header.totalWeight;
      return { sum, sites: [...header.sites] };
    } catch (error) {
      return { problem: `the checkpoint file is unreadable (${(error as Error).message})` };
    }
  }

  /** Removes the round's folder (its envelopes not yet checkpointed go back to the pool first). */
  removeRound(dir: RoundDir, unCheckpointed: readonly string[]): void {
    for (const site of unCheckpointed) this.recycleSealed(dir, site);
    this.storage.remove(dir);
  }

  loadStrategyState(experimentId: string, version: string | null): StrategyState {
    const state: StrategyState = new Map();
    if (!version) return state;
    for (const key of ['m', 'v']) {
      const file = this.storage.path('strategy', experimentId, `${version}.${key}.f32`);
      if (!this.storage.exists(file)) continue;
      const bytes = this.storage.read(file);
      state.set(key, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    }
    return state;
  }

  saveStrategyState(experimentId: string, version: string, state: StrategyState): void {
    for (const [key, values] of state) {
      this.storage.writeAtomic(this.storage.path('strategy', experimentId, `${version}.${key}.f32`), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
  }
}
