import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { ModelStore } from './model-store';
import { ModelsController } from './models.controller';
import { MODEL_STORE, ModelsService } from './models.service';

@Module({
  controllers: [ModelsController],
  providers: [
    { provide: MODEL_STORE, useFactory: (config: CoordinatorConfig) => new ModelStore(join(config.dataDir, 'models')), inject: [COORDINATOR_CONFIG] },
    ModelsService,
  ],
  exports: [ModelsService],
})
export class ModelsModule {}
