/**
 * `gatehouse config show`: the settings in effect and where each came from (default, environment
 * or a command-line flag), secrets masked. It reads no database and changes nothing.
 */
import type { Command } from 'commander';
import { inspectConfig } from '../config.js';
import { type CliIo, globalFlags } from './io.js';
import { emit, writeTable } from './output.js';

export function registerConfig(program: Command, io: CliIo): void {
  const config = program.command('config').description('the configuration in effect');

  config
    .command('show')
    .description(
      'print every setting in effect and where it came from (default, environment, flag); secrets are masked',
    )
    .option('--json', 'print {settings: [{variable, value, source, note?}]} as JSON (value null when unset)')
    .addHelpText(
      'after',
      '\nThe secret key and the admin password show as ********; the password in a postgres:// or\n' +
        'redis:// URL too. --data-dir and --database-url count as flags; everything else comes from\n' +
        'the environment or its default.',
    )
    .action((opts: { json?: boolean }, command: Command) => {
      const { settings } = inspectConfig(io.env, io.cwd, globalFlags(command));
      emit(io.stdout, opts.json, { settings }, () =>
        writeTable(io.stdout, settings, {
          SETTING: (s) => s.variable,
          VALUE: (s) => s.value ?? (s.note !== undefined ? `(unset: ${s.note})` : '(unset)'),
          SOURCE: (s) => s.source,
        }),
      );
    });
}
