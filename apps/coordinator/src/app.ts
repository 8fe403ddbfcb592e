import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module';
import { type CoordinatorConfig } from './core/coordinator.config';
import { RestExceptionFilter } from './core/errors';
import { SessionRegistry } from './core/sessions.service';
import { LimitedIoAdapter } from './gateway/io.adapter';

/** A running coordinator. */
export interface RunningCoordinator {
  app: NestExpressApplication;
  /** `http://host:port` or `https://host:port` with the actual port. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Nest log levels; `false` silences the logger (tests). */
  logLevels?: LogLevel[] | false;
}

/** Boots the NestJS app on the configured host and port (0 = any free port). */
export async function startCoordinator(config: CoordinatorConfig, options: StartOptions = {}): Promise<RunningCoordinator> {
  const levels: LogLevel[] | false = options.logLevels ?? ['log', 'warn', 'error'];
  const logger = levels === false ? false : new ConsoleLogger({ json: config.logFormat === 'json', logLevels: levels, colors: config.logFormat !== 'json' });
  const httpsOptions = config.tls ? { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } : undefined;
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger, httpsOptions, bodyParser: false });
  app.useBodyParser('json', { limit: '1mb' });
  app.useBodyParser('raw', { type: 'application/octet-stream', limit: config.limits.maxModelBytes });
  app.useGlobalFilters(new RestExceptionFilter());
  app.useWebSocketAdapter(new LimitedIoAdapter(app, config.limits.maxMessageBytes, { pingIntervalMs: config.pingIntervalMs, pingTimeoutMs: config.pingTimeoutMs }));
  app.enableShutdownHooks();
  app.disable('x-powered-by');
  const publicDir = config.publicDir ?? join(__dirname, '..', 'public');
  if (existsSync(publicDir)) app.useStaticAssets(publicDir, { index: 'index.html' });
  // The dashboard's socket.io client, served from node_modules (no CDN): /vendor/socket.io/socket.io.esm.min.js
  app.useStaticAssets(join(dirname(require.resolve('socket.io/package.json')), 'client-dist'), { prefix: '/vendor/socket.io/' });
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder().setTitle('fedct coordinator').setDescription('Enrols hospital sites and runs federated CovidCTNet experiments. Sites talk socket.io on /sites (see @fedct/protocol).').setVersion('0.1.0').addBearerAuth().build(),
  );
  SwaggerModule.setup('api/docs', app, document);
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${address.port}`;
  return {
    app,
    url,
    port: address.port,
    close: async () => {
      app.get(SessionRegistry).closeAll();
      await app.close();
    },
  };
}
