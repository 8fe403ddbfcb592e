import { Controller, Get, Header, Inject, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { type AuditEntry, AuditService } from '../core/audit.service';
import { Access, AuthGuard } from '../core/auth.guard';
import { MetricsService } from '../core/metrics.service';
import { SessionRegistry } from '../core/sessions.service';

@ApiTags('operations')
@Controller()
@UseGuards(AuthGuard)
export class OpsController {
  private readonly started = Date.now();

  constructor(
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(SessionRegistry) private readonly sessions: SessionRegistry,
  ) {}

  @Get('api/health')
  @Access('public')
  @ApiOperation({ summary: 'Liveness: { status: "ok", uptimeSeconds, sitesOnline }.' })
  health(): { status: 'ok'; uptimeSeconds: number; sitesOnline: number } {
    return { status: 'ok', uptimeSeconds: Math.round((Date.now() - this.started) / 1000), sitesOnline: this.sessions.online().length };
  }

  @Get('metrics')
  @Access('public')
  @Header('content-type', 'text/plain; version=0.0.4')
  @ApiOperation({ summary: 'Prometheus text: rounds, sites online, bytes in/out, rejected updates, RSS.' })
  prometheus(): string {
    return this.metrics.render();
  }

  @Get('api/audit')
  @Access('reader')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Audit entries after ?after=SEQ (optionally ?event=NAME), oldest first.' })
  list(@Query('after') after?: string, @Query('event') event?: string, @Query('limit') limit?: string): AuditEntry[] {
    return this.audit.list(Number(after ?? 0) || 0, Math.min(5000, Number(limit ?? 500) || 500), event || undefined);
  }

  @Get('api/audit/verify')
  @Access('reader')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Recompute the audit hash chain: { ok, entries, brokenAt }.' })
  verify(): ReturnType<AuditService['verify']> {
    return this.audit.verify();
  }
}
