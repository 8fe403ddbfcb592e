import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveCoordinatorConfig } from '../core/coordinator.config';
import { FileStorage } from '../core/storage';
import { SpoolPool } from './spool-pool';

const root = mkdtempSync(join(tmpdir(), 'fedct-spool-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function pool(dataDir: string): SpoolPool {
  return new SpoolPool(resolveCoordinatorConfig({ adminToken: 'x'.repeat(20), dataDir, roundCheckpointEvery: 1, limits: { maxConcurrentUploads: 1 } }), new FileStorage(dataDir));
}

describe(SpoolPool.name, () => {
  it('reuses a spent spool file (same inode, new size) and deletes files beyond its bound', () => {
    const dataDir = join(root, 'a');
    const spool = pool(dataDir);
    expect(spool.maxFiles).toBe(2);
    const first = join(dataDir, 'uploads', 'one.part');
    const file = spool.create(first, 1000);
    file.writeAt(Buffer.alloc(1000, 7), 0);
    file.close();
    const inode = statSync(first).ino;
    spool.recycle(first);
    expect(existsSync(first)).toBe(false);
    expect(spool.size).toBe(1);

    const second = join(dataDir, 'uploads', 'two.part');
    spool.create(second, 600).close();
    expect(statSync(second).ino).toBe(inode);
    expect(statSync(second).size).toBe(600);
    expect(spool.size).toBe(0);

    const extra = ['x', 'y', 'z'].map((n) => join(dataDir, 'uploads', `${n}.part`));
    for (const file of extra) writeFileSync(file, 'spent');
    for (const file of extra) spool.recycle(file);
    expect(spool.size).toBe(2);
    expect(extra.every((file) => !existsSync(file))).toBe(true);
    expect(readdirSync(join(dataDir, 'uploads', 'recycled'))).toHaveLength(2);
    spool.recycle(join(dataDir, 'uploads', 'absent.part')); // ignored
    expect(spool.size).toBe(2);
    expect(readFileSync(second)).toHaveLength(600);
  });

  it('empties the recycled folder a previous run left behind', () => {
    const dataDir = join(root, 'b');
    mkdirSync(join(dataDir, 'uploads', 'recycled'), { recursive: true });
    writeFileSync(join(dataDir, 'uploads', 'recycled', 'old.spool'), 'left over');
    const spool = pool(dataDir);
    expect(readdirSync(join(dataDir, 'uploads', 'recycled'))).toEqual([]);
    expect(spool.size).toBe(0);
  });
});
