import { Module } from '@nestjs/common';
import { STORAGE } from '../core/core.tokens';
import type { FileStorage } from '../core/storage';
import { ModelStore } from './model-store';
import { ModelsController } from './models.controller';
import { ModelsRepository } from './models.repository';
import { MODEL_STORE, ModelsService } from './models.service';

@Module({
  controllers: [ModelsController],
  providers: [
    { provide: MODEL_STORE, useFactory: (storage: FileStorage) => new ModelStore(storage), inject: [STORAGE] },
    ModelsRepository,
    ModelsService,
  ],
  exports: [ModelsService],
})
export class ModelsModule {}
