import { Module } from '@nestjs/common';
import { ExperimentsModule } from '../experiments/experiments.module';
import { ModelsModule } from '../models/models.module';
import { SitesModule } from '../sites/sites.module';
import { AdminGateway } from './admin.gateway';
import { SitesGateway } from './sites.gateway';

@Module({ imports: [SitesModule, ModelsModule, ExperimentsModule], providers: [SitesGateway, AdminGateway] })
export class GatewayModule {}
