import { Controller, Get, Headers, Inject, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { phaseSchema } from '@fedct/protocol';
import { Access, AuthGuard } from '../core/auth.guard';
import { CoordinatorError } from '../core/errors';
import { type ModelView, ModelsService } from './models.service';

@ApiTags('models')
@ApiBearerAuth()
@Controller('api/models')
@UseGuards(AuthGuard)
export class ModelsController {
  constructor(@Inject(ModelsService) private readonly models: ModelsService) {}

  @Get()
  @Access('reader')
  @ApiOperation({ summary: 'Registered model versions with sha256, parent, experiment, round and metrics.' })
  list(): ModelView[] {
    return this.models.list();
  }

  @Get(':version/info')
  @Access('reader')
  info(@Param('version') version: string): ModelView {
    return this.models.get(version);
  }

  @Get(':version')
  @Access('reader')
  @ApiOperation({ summary: 'The model blob (application/octet-stream); header X-Model-Sha256 is its identity.' })
  download(@Param('version') version: string, @Res() response: Response): void {
    const model = this.models.get(version);
    response.setHeader('content-type', 'application/octet-stream');
    response.setHeader('x-model-sha256', model.sha256);
    response.setHeader('x-model-version', model.version);
    response.sendFile(this.models.store.pathOf(model.sha256));
  }

  @Post()
  @ApiConsumes('application/octet-stream')
  @ApiOperation({ summary: 'Upload a model blob (e.g. an experiment\'s initial model); ?phase=denoiser|classifier (admin).' })
  upload(@Req() request: Request, @Query('phase') phase: string | undefined, @Headers('content-type') type: string | undefined): ModelView {
    if (!type?.startsWith('application/octet-stream') || !Buffer.isBuffer(request.body)) {
      throw new CoordinatorError('send the model blob as the body with Content-Type: application/octet-stream', 'bad_message');
    }
    const parsedPhase = phase === undefined ? null : phaseSchema.safeParse(phase);
    if (parsedPhase && !parsedPhase.success) throw new CoordinatorError(`phase must be denoiser or classifier, got "${phase}"`, 'bad_message');
    const body = request.body as Buffer;
    return this.models.register({ bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), source: 'upload', phase: parsedPhase?.data ?? null });
  }
}
