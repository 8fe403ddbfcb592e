import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError } from 'commander';
import { startCoordinator } from './app';
import { loadCoordinatorConfig } from './core/coordinator.config';

const program = new Command('fedct-coordinator')
  .description('fedct coordinator: enrols hospital sites and runs federated CovidCTNet experiments.')
  .version('0.1.0')
  .exitOverride();

program
  .command('start')
  .description('serve REST under /api, socket.io under /sites, the dashboard at /, OpenAPI at /api/docs, Prometheus at /metrics')
  .option('-c, --config <file>', 'configuration file (YAML or JSON); FEDCT_* environment variables override it')
  .action(async (options: { config?: string }) => {
    const config = loadCoordinatorConfig(options.config);
    // Read by V8 at every full GC, so setting it now (before the first update arrives) takes effect;
    // it applies to the verification worker threads too. See `heapGrowingPercent` in the config.
    if (config.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
    const running = await startCoordinator(config);
    process.stdout.write(`fedct-coordinator listening on ${running.url}\n`);
    const stop = (): void => {
      void running.close().finally(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
    return;
  }
  process.stderr.write(`fedct-coordinator: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
  process.exitCode = 1;
});
