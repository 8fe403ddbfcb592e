import { Body, Controller, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createEnrollmentTokenSchema, enrollRequestSchema, revokeSiteSchema, type EnrollResult, type EnrollmentTokenResult } from '@fedct/protocol';
import { z } from 'zod';
import { Access, AuthGuard, parseBody } from '../core/auth.guard';
import { type SiteView, SitesService } from './sites.service';

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

@ApiTags('sites')
@ApiBearerAuth()
@Controller('api')
@UseGuards(AuthGuard)
export class SitesController {
  constructor(@Inject(SitesService) private readonly sites: SitesService) {}

  @Post('enrollment-tokens')
  @ApiOperation({ summary: 'Create a one-time, expiring enrolment token for a named site (admin).' })
  @ApiBody({ schema: jsonSchema(createEnrollmentTokenSchema) })
  createToken(@Body() body: unknown): EnrollmentTokenResult {
    const request = parseBody(createEnrollmentTokenSchema, body);
    return this.sites.createEnrollmentToken(request.siteName, request.ttlSeconds);
  }

  @Post('enroll')
  @HttpCode(201)
  @Access('public')
  @ApiOperation({ summary: 'A site enrols with its one-time token and public keys; returns its id and the coordinator keys to pin.' })
  @ApiBody({ schema: jsonSchema(enrollRequestSchema) })
  enroll(@Body() body: unknown): EnrollResult {
    return this.sites.enroll(parseBody(enrollRequestSchema, body));
  }

  @Get('sites')
  @Access('reader')
  @ApiOperation({ summary: 'Enrolled sites with online state, last heartbeat, backend and dataset counts.' })
  list(): SiteView[] {
    return this.sites.list();
  }

  @Get('sites/:id')
  @Access('reader')
  get(@Param('id') id: string): SiteView {
    return this.sites.get(id);
  }

  @Post('sites/:id/revoke')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke a site: its connections close at once and it is refused from then on (admin).' })
  @ApiBody({ schema: jsonSchema(revokeSiteSchema) })
  revoke(@Param('id') id: string, @Body() body: unknown): SiteView {
    return this.sites.revoke(id, parseBody(revokeSiteSchema, body).reason);
  }
}
