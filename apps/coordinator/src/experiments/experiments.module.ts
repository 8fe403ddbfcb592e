import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { SitesModule } from '../sites/sites.module';
import { ExperimentsController } from './experiments.controller';
import { ExperimentsRepository } from './experiments.repository';
import { ExperimentsService } from './experiments.service';
import { RoundEvents } from './round-events';
import { RoundRecovery } from './round-recovery';
import { RoundScheduler } from './round-scheduler';
import { RoundSpool } from './round-spool';
import { RoundsService } from './rounds.service';
import { SpoolPool } from './spool-pool';
import { UploadsRepository } from './uploads.repository';
import { UploadsService } from './uploads.service';
import { VerifierPool } from './verifier.pool';

@Module({
  imports: [SitesModule, ModelsModule],
  controllers: [ExperimentsController],
  providers: [ExperimentsRepository, UploadsRepository, SpoolPool, RoundSpool, RoundEvents, RoundsService, RoundRecovery, RoundScheduler, VerifierPool, UploadsService, ExperimentsService],
  exports: [RoundsService, RoundScheduler, UploadsService, ExperimentsRepository, ExperimentsService],
})
export class ExperimentsModule {}
