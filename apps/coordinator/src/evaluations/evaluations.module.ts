import { Module } from '@nestjs/common';
import { ExperimentsModule } from '../experiments/experiments.module';
import { ModelsModule } from '../models/models.module';
import { SitesModule } from '../sites/sites.module';
import { EvaluationsController } from './evaluations.controller';
import { EvaluationsService } from './evaluations.service';

@Module({ imports: [ExperimentsModule, ModelsModule, SitesModule], controllers: [EvaluationsController], providers: [EvaluationsService] })
export class EvaluationsModule {}
