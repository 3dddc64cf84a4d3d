/**
 * The `gatehouse` command. Every subcommand has --help; list/show commands
 * take --json; errors go to stderr with exit code 1, usage errors exit 2.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.js';
import { AppError } from '../errors.js';
import { registerAudit } from './audit.js';
import { registerBackup } from './backup.js';
import { registerClients } from './clients.js';
import { registerConfig } from './config.js';
import { registerDoctor } from './doctor.js';
import { registerGrants } from './grants.js';
import { registerInit } from './init.js';
import { CliExit, type CliIo } from './io.js';
import { registerKeys } from './keys.js';
import { registerMigrate } from './migrate.js';
import { registerPlatform } from './platform.js';
import { registerPlatformLogs } from './platform-logs.js';
import { registerRoles } from './roles.js';
import { registerServe } from './serve.js';
import { registerTokens } from './tokens.js';
import { registerUsers } from './users.js';
import { registerTls } from './tls.js';
import { registerWorkflows } from './workflows.js';

export type { CliIo } from './io.js';

/** Command groups register themselves here; each takes the program and the io. */
const REGISTRARS: Array<(program: Command, io: CliIo) => void> = [
  registerServe,
  registerMigrate,
  registerInit,
  registerUsers,
  registerRoles,
  registerGrants,
  registerAudit,
  registerClients,
  registerKeys,
  registerTokens,
  registerWorkflows,
  registerPlatform,
  registerPlatformLogs,
  registerTls,
  registerConfig,
  registerDoctor,
  registerBackup,
];

export function buildProgram(io: CliIo): Command {
  const program = new Command('gatehouse')
    .description('Gatehouse: OAuth 2.0 client-credentials API access platform')
    .version('0.1.0', '-V, --version')
    .option('--data-dir <dir>', 'data directory (overrides GATEHOUSE_DATA_DIR)')
    .option('--database-url <url>', 'postgres://… URL (overrides GATEHOUSE_DATABASE_URL)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  for (const register of REGISTRARS) register(program, io);
  // Exit codes are decided in runCli, not by commander calling process.exit.
  const applyExitOverride = (command: Command) => {
    command.exitOverride();
    checkRequiredOptionsAfterUnknownOnes(command);
    for (const sub of command.commands) applyExitOverride(sub);
  };
  applyExitOverride(program);
  return program;
}

/**
 * Commander checks required options before it looks for unknown ones, so a mistyped option
 * (`--scope data` for `--scopes data`) was reported as the required one missing. Required options
 * are checked just before the action instead, after commander has reported an unknown option
 * with its "Did you mean …?" suggestion.
 */
function checkRequiredOptionsAfterUnknownOnes(command: Command): void {
  const required = command.options.filter((option) => option.mandatory);
  if (required.length === 0) return;
  for (const option of required) option.makeOptionMandatory(false);
  command.hook('preAction', (_self, actionCommand) => {
    for (const option of required) {
      if (actionCommand.getOptionValue(option.attributeName()) === undefined) {
        actionCommand.error(`error: required option '${option.flags}' not specified`, {
          exitCode: 2,
          code: 'commander.missingMandatoryOptionValue',
        });
      }
    }
  });
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      ) {
        return 0;
      }
      // Commander has already written the message; usage errors are exit 2.
      return 2;
    }
    if (error instanceof CliExit) return error.code;
    if (error instanceof ConfigError) {
      io.stderr.write(`gatehouse: configuration error: ${error.message}\n`);
      return 1;
    }
    if (error instanceof AppError) {
      io.stderr.write(`gatehouse: ${error.message}\n`);
      return 1;
    }
    io.stderr.write(`gatehouse: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
