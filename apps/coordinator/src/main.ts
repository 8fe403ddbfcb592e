import { Command, CommanderError } from 'commander';

const program = new Command('fedct-coordinator')
  .description('fedct coordinator: enrols hospital sites and runs federated CovidCTNet experiments.')
  .version('0.1.0')
  .exitOverride();

program
  .command('start')
  .description('serve REST under /api, socket.io under /sites, the dashboard at /, OpenAPI at /api/docs')
  .option('-c, --config <file>', 'configuration file (YAML or JSON)', 'configs/coordinator.example.yaml')
  .action(() => {
    throw new Error('fedct-coordinator start is not built yet');
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
    return;
  }
  process.stderr.write(`fedct-coordinator: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
