/**
 * What a CLI command is run with: the environment, output streams and the
 * working directory. Tests pass their own; `main.ts` passes the process's.
 */
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import type { Env } from '../config.js';

export interface CliIo {
  env: Env;
  /** Read only by commands that take a secret on standard input (`--password-stdin`). */
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  cwd: string;
}

/** Options every command accepts; they override the matching environment variables. */
export interface GlobalOptions {
  dataDir?: string;
  databaseUrl?: string;
}

/** The global flags given, as the variables they override. */
export function globalFlags(command: Command): Env {
  const opts = command.optsWithGlobals<GlobalOptions>();
  return {
    ...(opts.dataDir !== undefined ? { GATEHOUSE_DATA_DIR: opts.dataDir } : {}),
    ...(opts.databaseUrl !== undefined ? { GATEHOUSE_DATABASE_URL: opts.databaseUrl } : {}),
  };
}

/** The environment with the global flags applied, so `loadConfig` validates flags and variables alike. */
export function effectiveEnv(io: CliIo, command: Command): Env {
  return { ...io.env, ...globalFlags(command) };
}

/** All of standard input as text, without the one trailing newline `echo` or a here-string adds. */
export async function readStdin(io: CliIo): Promise<string> {
  let text = '';
  io.stdin.setEncoding('utf8');
  for await (const chunk of io.stdin) text += chunk as string;
  return text.replace(/\r?\n$/, '');
}

/**
 * Ends a command with `code` after it has written its own report (`gatehouse doctor` exits 1 when
 * a check fails); runCli returns the code and prints nothing more.
 */
export class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'CliExit';
  }
}
