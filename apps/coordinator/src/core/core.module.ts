import { type DynamicModule, Global, Inject, Module, type OnModuleDestroy } from '@nestjs/common';
import { AuditRepository } from './audit.repository';
import { AuditService } from './audit.service';
import { AuthGuard } from './auth.guard';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from './coordinator.config';
import { DATABASE, type Db, openDatabase } from './database';
import { COORDINATOR_IDENTITY, loadOrCreateIdentity } from './identity';
import { MetricsService } from './metrics.service';
import { RateLimiter } from './rate-limiter';
import { SessionRegistry } from './sessions.service';
import { STORAGE } from './core.tokens';
import { FileStorage } from './storage';

/** Configuration, SQLite, file storage, the coordinator identity, audit log, metrics, sessions, auth: used everywhere. */
@Global()
@Module({})
export class CoreModule implements OnModuleDestroy {
  constructor(@Inject(DATABASE) private readonly db: Db) {}

  static forRoot(config: CoordinatorConfig): DynamicModule {
    const providers = [
      { provide: COORDINATOR_CONFIG, useValue: config },
      { provide: DATABASE, useFactory: () => openDatabase(config.dataDir) },
      { provide: COORDINATOR_IDENTITY, useFactory: () => loadOrCreateIdentity(config.dataDir) },
      { provide: STORAGE, useFactory: () => new FileStorage(config.dataDir) },
      AuditRepository,
      AuditService,
      MetricsService,
      SessionRegistry,
      RateLimiter,
      AuthGuard,
    ];
    return { module: CoreModule, providers, exports: providers.map((p) => ('provide' in p ? p.provide : p)) };
  }

  onModuleDestroy(): void {
    if (this.db.open) this.db.close();
  }
}
