import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { SitesModule } from '../sites/sites.module';
import { ExperimentsController } from './experiments.controller';
import { ExperimentsRepository } from './experiments.repository';
import { ExperimentsService } from './experiments.service';
import { RoundsService } from './rounds.service';
import { SpoolPool } from './spool-pool';
import { UploadsService } from './uploads.service';
import { VerifierPool } from './verifier.pool';

@Module({
  imports: [SitesModule, ModelsModule],
  controllers: [ExperimentsController],
  providers: [ExperimentsRepository, SpoolPool, RoundsService, VerifierPool, UploadsService, ExperimentsService],
  exports: [RoundsService, UploadsService, ExperimentsRepository],
})
export class ExperimentsModule {}
