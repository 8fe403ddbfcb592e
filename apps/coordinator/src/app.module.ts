import { type DynamicModule, Module } from '@nestjs/common';
import type { CoordinatorConfig } from './core/coordinator.config';
import { CoreModule } from './core/core.module';
import { EvaluationsModule } from './evaluations/evaluations.module';
import { ExperimentsModule } from './experiments/experiments.module';
import { GatewayModule } from './gateway/gateway.module';
import { ModelsModule } from './models/models.module';
import { OpsModule } from './ops/ops.module';
import { SitesModule } from './sites/sites.module';

@Module({})
export class AppModule {
  static forRoot(config: CoordinatorConfig): DynamicModule {
    return { module: AppModule, imports: [CoreModule.forRoot(config), SitesModule, ModelsModule, ExperimentsModule, EvaluationsModule, GatewayModule, OpsModule] };
  }
}
