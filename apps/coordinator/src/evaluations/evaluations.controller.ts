import { Body, Controller, Get, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createEvaluationSchema, type EvaluationView } from '@fedct/protocol';
import { z } from 'zod';
import { Access, AuthGuard, parseBody } from '../core/auth.guard';
import { EvaluationsService } from './evaluations.service';

@ApiTags('evaluations')
@ApiBearerAuth()
@Controller('api/evaluations')
@UseGuards(AuthGuard)
export class EvaluationsController {
  constructor(@Inject(EvaluationsService) private readonly evaluations: EvaluationsService) {}

  @Post()
  @ApiOperation({ summary: 'Measure a published classifier (with its denoiser) on one split at chosen sites or all (admin).' })
  @ApiBody({ schema: z.toJSONSchema(createEvaluationSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown> })
  create(@Body() body: unknown): EvaluationView {
    return this.evaluations.create(parseBody(createEvaluationSchema, body));
  }

  @Get()
  @Access('reader')
  list(): EvaluationView[] {
    return this.evaluations.list();
  }

  @Get(':id')
  @Access('reader')
  @ApiOperation({ summary: 'Per-site and pooled figures with 95 % intervals, and the sites that did not answer.' })
  get(@Param('id') id: string): EvaluationView {
    return this.evaluations.get(id);
  }
}
