import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toBase64 } from '../bytes';
import { generateIdentity } from '../keys';
import { seededRandomBytes } from '../random';
import { SecAggStage } from './secagg.constants';
import type { SecAggParams } from './secagg.params';
import { addMaskedInput, createAggregate, routeAdvertisements, routeShares, unmaskRequest } from './secagg.server';
import { advertiseKeys, shareKeys } from './secagg.site';

const rng = seededRandomBytes('server-spec');
const keys = new Map<string, Uint8Array>();
const sites: Record<string, string> = {};
for (const id of ['a', 'b', 'c', 'd', 'e']) {
  const identity = generateIdentity(rng(32));
  keys.set(id, identity.signing.secretKey);
  sites[id] = toBase64(identity.signing.publicKey);
}
const params: SecAggParams = { experiment: 'x', round: 4, sites, neighbours: 4, threshold: 3, vectorLength: 3, clipRange: 1, maxTotalWeight: 100, graphSeed: 's' };
const key = (id: string) => keys.get(id) ?? new Uint8Array(64);

describe(routeAdvertisements.name, () => {
  it('drops sites left with fewer than t advertised neighbours and refuses duplicates and other rounds', () => {
    const ads = ['a', 'b', 'c'].map((id) => advertiseKeys(params, id, key(id), rng).message);
    // Only 2 neighbours each (< t = 3): nobody can continue.
    const few = routeAdvertisements(params, ads);
    expect(few.accepted).toEqual([]);
    expect(few.rejected.map((r) => r.site).sort()).toEqual(['a', 'b', 'c']);
    const all = ['a', 'b', 'c', 'd', 'e'].map((id) => advertiseKeys(params, id, key(id), rng).message);
    const routed = routeAdvertisements(params, [...all, all[0] as (typeof all)[number], { ...(all[1] as (typeof all)[number]), round: 5 }]);
    expect(routed.accepted.map((a) => a.site)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(routed.rejected).toEqual([
      { site: 'a', reason: 'duplicate advertisement' },
      { site: 'b', reason: 'duplicate advertisement' },
    ]);
    expect(routed.requests['a']?.advertisements.map((x) => x.site)).toEqual(['b', 'c', 'd', 'e']);
  });
});

describe(routeShares.name, () => {
  it('refuses share messages from sites that did not advertise or that skip a neighbour', () => {
    const started = ['a', 'b', 'c', 'd', 'e'].map((id) => advertiseKeys(params, id, key(id), rng));
    const routed = routeAdvertisements(params, started.map((s) => s.message));
    const shared = started.map((s) => shareKeys(s.state, routed.requests[s.state.site] ?? { stage: 'share-keys-request', experiment: 'x', round: 4, advertisements: [] }, rng).message);
    const [a, b, ...rest] = shared;
    if (!a || !b) throw new Error('missing');
    // If the server's U1 lacks b, b is refused and everyone who addressed b is too.
    const result = routeShares(params, ['a', 'c', 'd', 'e'], [a, b, ...rest]);
    expect(result.rejected.find((r) => r.site === 'b')?.reason).toBe('did not advertise keys');
    expect(result.rejected.filter((r) => r.reason.startsWith('shares do not address')).map((r) => r.site)).toEqual(['a', 'c', 'd', 'e']);
    const skipping = routeShares(params, ['a', 'b', 'c', 'd', 'e'], [{ ...a, shares: a.shares.slice(1) }, b, ...rest]);
    expect(skipping.rejected).toEqual([{ site: 'a', reason: 'shares do not address exactly the advertised neighbours' }]);
    expect(skipping.requests['c']?.shares.map((s) => s.from).sort()).toEqual(['b', 'd', 'e']);
  });
});

describe(addMaskedInput.name, () => {
  it('refuses a vector of the wrong length, a hash mismatch, or another round', () => {
    const aggregate = createAggregate(params);
    const bytes = new Uint8Array(16).fill(1);
    const message = { stage: SecAggStage.MaskedInput, experiment: 'x', round: 4, site: 'a', vectorLength: 4, vectorSha256: createHash('sha256').update(bytes).digest('hex') };
    addMaskedInput(params, aggregate, message, bytes);
    expect(aggregate[0]).toBe(0x01010101);
    expect(() => addMaskedInput(params, aggregate, message, bytes.subarray(4))).toThrow(/wrong length/);
    expect(() => addMaskedInput(params, aggregate, { ...message, vectorSha256: '0'.repeat(64) }, bytes)).toThrow(/hash/);
    expect(() => addMaskedInput(params, aggregate, { ...message, round: 3 }, bytes)).toThrow(/another round/);
  });
});

describe(unmaskRequest.name, () => {
  it('needs t valid consistency signatures by survivors', () => {
    expect(() => unmaskRequest(params, ['a', 'b', 'c', 'd'], ['a', 'b', 'c'], [])).toThrow(/Only 0 sites confirmed/);
  });
});
