import { Inject, Injectable } from '@nestjs/common';
import { DATABASE, type Db } from '../core/database';

/** An upload in progress: whose, for which round, and its chunk manifest (JSON). */
export interface UploadRow {
  id: string;
  site_id: string;
  experiment_id: string;
  round: number;
  manifest: string;
}

/** Every SQLite read and write of uploads in progress (their spool files are the spool pool's). */
@Injectable()
export class UploadsRepository {
  constructor(@Inject(DATABASE) private readonly db: Db) {}

  insert(row: UploadRow, createdAt: string): void {
    this.db.prepare('INSERT INTO uploads (id, site_id, experiment_id, round, manifest, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(row.id, row.site_id, row.experiment_id, row.round, row.manifest, createdAt);
  }

  find(id: string): UploadRow | null {
    return this.db.prepare<[string], UploadRow>('SELECT id, site_id, experiment_id, round, manifest FROM uploads WHERE id = ?').get(id) ?? null;
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM uploads WHERE id = ?').run(id);
  }

  idsOfRound(experimentId: string, round: number): string[] {
    return this.db.prepare<[string, number], { id: string }>('SELECT id FROM uploads WHERE experiment_id = ? AND round = ?').all(experimentId, round).map((r) => r.id);
  }
}
