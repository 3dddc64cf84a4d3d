import type { Command } from 'commander';
import type { CliIo } from './io.js';
import { commandConfig, openCliRuntime } from './runtime.js';

export function registerMigrate(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description(
      'apply pending database migrations (serve does this too; safe to run on several nodes at once)',
    )
    .option('--status', 'list pending migrations without applying them')
    .action(async (opts: { status?: boolean }, command: Command) => {
      const runtime = await openCliRuntime(commandConfig(io, command), { create: true });
      try {
        if (opts.status) {
          const pending = await runtime.store.pendingMigrations();
          io.stdout.write(
            pending.length === 0 ? 'No pending migrations.\n' : `Pending: ${pending.join(', ')}\n`,
          );
          return;
        }
        const { applied } = await runtime.store.migrate();
        io.stdout.write(
          applied.length === 0 ? 'Database is up to date.\n' : `Applied: ${applied.join(', ')}\n`,
        );
      } finally {
        await runtime.close();
      }
    });
}
