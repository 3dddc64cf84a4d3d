import type { Command } from 'commander';
import type { CliIo } from './io.js';
import { printBootstrapAdmin } from './output.js';
import { commandConfig, openCliRuntime } from './runtime.js';

export function registerInit(program: Command, io: CliIo): void {
  program
    .command('init')
    .description('create the data directory, secret key and database, and the first admin, without serving')
    .action(async (_opts: unknown, command: Command) => {
      const config = commandConfig(io, command);
      const { prepareRuntime, resolveSecretKey } = await import('../bootstrap.js');
      const { generatedFile } = resolveSecretKey(config);
      if (generatedFile)
        io.stdout.write(`Generated secret key in ${generatedFile} (mode 0600). Back it up.\n`);
      const runtime = await openCliRuntime(config, { create: true });
      try {
        const result = await prepareRuntime(runtime, { bootstrapAdmin: true });
        io.stdout.write(
          result.appliedMigrations.length === 0
            ? 'Database is up to date.\n'
            : `Applied migrations: ${result.appliedMigrations.join(', ')}\n`,
        );
        if (result.bootstrapAdmin) printBootstrapAdmin(io, result.bootstrapAdmin);
        else io.stdout.write('Users exist already; no bootstrap admin created.\n');
      } finally {
        await runtime.close();
      }
    });
}
