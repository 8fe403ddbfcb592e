import { Body, Controller, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createExperimentSchema } from '@fedct/protocol';
import { z } from 'zod';
import { Access, AuthGuard, parseBody } from '../core/auth.guard';
import type { ExperimentRecord } from './experiments.repository';
import { type ExperimentView, ExperimentsService } from './experiments.service';

const abortSchema = z.object({ reason: z.string().max(500).default('aborted by admin') });

@ApiTags('experiments')
@ApiBearerAuth()
@Controller('api/experiments')
@UseGuards(AuthGuard)
export class ExperimentsController {
  constructor(@Inject(ExperimentsService) private readonly experiments: ExperimentsService) {}

  @Post()
  @ApiOperation({ summary: 'Start an experiment (admin). Returns { id, ... }.' })
  @ApiBody({ schema: z.toJSONSchema(createExperimentSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown> })
  create(@Body() body: unknown): ExperimentRecord {
    return this.experiments.create(parseBody(createExperimentSchema, body));
  }

  @Get()
  @Access('reader')
  list(): ExperimentRecord[] {
    return this.experiments.list();
  }

  @Get(':id')
  @Access('reader')
  @ApiOperation({ summary: 'Experiment status with every round: state, participants, per-site results and metrics.' })
  get(@Param('id') id: string): ExperimentView {
    return this.experiments.get(id);
  }

  @Post(':id/pause')
  @HttpCode(200)
  pause(@Param('id') id: string): ExperimentRecord {
    return this.experiments.pause(id);
  }

  @Post(':id/resume')
  @HttpCode(200)
  resume(@Param('id') id: string): ExperimentRecord {
    return this.experiments.resume(id);
  }

  @Post(':id/abort')
  @HttpCode(200)
  abort(@Param('id') id: string, @Body() body: unknown): ExperimentRecord {
    return this.experiments.abort(id, parseBody(abortSchema, body).reason);
  }
}
