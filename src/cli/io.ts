/**
 * What a CLI command is run with: the environment, output streams and the
 * working directory. Tests pass their own; `main.ts` passes the process's.
 */
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import type { Env } from '../config.js';

export interface CliIo {
  env: Env;
  stdout: Writable;
  stderr: Writable;
  cwd: string;
}

/** Options every command accepts; they override the matching environment variables. */
export interface GlobalOptions {
  dataDir?: string;
  databaseUrl?: string;
}

/** The environment with the global flags applied, so `loadConfig` validates flags and variables alike. */
export function effectiveEnv(io: CliIo, command: Command): Env {
  const opts = command.optsWithGlobals<GlobalOptions>();
  return {
    ...io.env,
    ...(opts.dataDir !== undefined ? { GATEHOUSE_DATA_DIR: opts.dataDir } : {}),
    ...(opts.databaseUrl !== undefined ? { GATEHOUSE_DATABASE_URL: opts.databaseUrl } : {}),
  };
}
