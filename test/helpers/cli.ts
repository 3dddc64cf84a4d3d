/**
 * Runs the BUILT CLI (`dist/main.js`, so `npm run build` first; `npm test` does)
 * as a child process, the way an operator runs it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { vi } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { freshSchemaName, PG_URL } from './stores.js';

/**
 * Per-test limit for tests that run the CLI several times: each run is a fresh Node
 * process (0.3–1 s, far more on a loaded machine). A guard against hangs, not a speed check.
 */
export const CLI_TEST_TIMEOUT = 240_000;

export const MAIN = path.resolve(import.meta.dirname, '../../dist/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  /** Written to the child's standard input, which is then closed. */
  stdin?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/** Runs `node ...nodeArgs` with only the variables given (plus PATH), and collects its output. */
export function runNode(
  nodeArgs: readonly string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

/** Runs `node dist/main.js ...args` with only the variables given (plus PATH). */
export function runBuiltCli(
  args: readonly string[],
  env: Record<string, string>,
  stdin?: string,
): Promise<CliResult> {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
  return runNode([MAIN, ...args], env, stdin);
}

/** An audit event as `gatehouse audit list --json` prints it. */
export interface AuditEventJson {
  id: number;
  occurredAt: string;
  actor: { type: string; id: string | null; label: string | null };
  action: string;
  target: { type: string; id: string } | null;
  ip: string | null;
  details: Record<string, unknown>;
}

/** The commands that create an instance where there is none; every other one needs one that exists. */
const CREATING_COMMANDS = new Set(['init', 'migrate', 'serve']);

/**
 * A place for the CLI to keep its data: a fresh SQLite data dir, or a fresh PostgreSQL schema.
 * Unless the first command run there creates the instance itself (init, migrate, serve), the
 * database is migrated first, as `gatehouse init` would, so other commands find an instance.
 */
export interface CliTarget {
  readonly dialect: 'sqlite' | 'postgres';
  readonly dataDir: string;
  readonly env: Record<string, string>;
  run(args: readonly string[], options?: CliRunOptions): Promise<CliResult>;
  /** `run` that expects exit code 0 and returns stdout parsed as JSON. */
  json<T = unknown>(args: readonly string[], options?: CliRunOptions): Promise<T>;
  dispose(): Promise<void>;
}

export const CLI_TEST_SECRET_KEY = Buffer.alloc(32, 9).toString('base64');

export function cliTarget(dialect: 'sqlite' | 'postgres', options: { initialise?: boolean } = {}): CliTarget {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cli-'));
  const schema = dialect === 'postgres' ? freshSchemaName() : undefined;
  if (dialect === 'postgres' && PG_URL === undefined)
    throw new Error('GATEHOUSE_TEST_DATABASE_URL is not set');
  const env: Record<string, string> = {
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_LOG_LEVEL: 'silent',
    // Tests run many servers at once: no fixed metrics port (a test that scrapes sets one).
    GATEHOUSE_METRICS_PORT: 'off',
    ...(schema !== undefined && PG_URL !== undefined
      ? {
          GATEHOUSE_DATABASE_URL: PG_URL,
          GATEHOUSE_DATABASE_SCHEMA: schema,
          GATEHOUSE_SECRET_KEY: CLI_TEST_SECRET_KEY,
        }
      : {}),
  };
  let prepared: Promise<void> | undefined;
  const prepare = (args: readonly string[]): Promise<void> => {
    const creates = options.initialise === false || CREATING_COMMANDS.has(args[0] ?? '');
    prepared ??= creates ? Promise.resolve() : migrateInProcess();
    return prepared;
  };
  const migrateInProcess = async () => {
    const store = await openStore(
      schema !== undefined && PG_URL !== undefined
        ? { databaseUrl: PG_URL, databaseSchema: schema }
        : { sqliteFile: path.join(dataDir, 'gatehouse.db') },
    );
    try {
      await store.migrate();
    } finally {
      await store.close();
    }
  };
  const target: CliTarget = {
    dialect,
    dataDir,
    env,
    async run(args, options = {}) {
      await prepare(args);
      return runBuiltCli(args, { ...env, ...options.env }, options.stdin);
    },
    async json<T>(args: readonly string[], options?: CliRunOptions): Promise<T> {
      const result = await target.run([...args, '--json'], options);
      if (result.code !== 0)
        throw new Error(`gatehouse ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
      return JSON.parse(result.stdout) as T;
    },
    async dispose() {
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (schema !== undefined && PG_URL !== undefined) {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        try {
          await client.query(`drop schema if exists "${schema}" cascade`);
        } finally {
          await client.end();
        }
      }
    },
  };
  return target;
}

/** A `gatehouse serve` child process started by a test, with its log output. */
export interface ServedCluster {
  readonly child: ChildProcess;
  /** Everything the server has written to stdout so far (JSON log lines at the configured level). */
  output(): string;
  /** The pids of the worker processes, from the primary's "worker listening" lines. */
  readonly workers: number[];
  /** SIGTERM, then waits for the exit; safe to call when it has already exited. */
  stop(): Promise<void>;
}

/**
 * Starts the built `gatehouse serve` with `env` (plus PATH) and waits until it says it is ready,
 * failing at once if it exits first. With GATEHOUSE_WORKERS > 1 and a log level of debug, the
 * workers' pids are read from the primary's log. `cwd` is where it runs (its default
 * data directory is `./data` there). The metrics listener is off unless `env` sets
 * GATEHOUSE_METRICS_PORT (tests run many servers at once; 0 takes a free port).
 */
export async function startServe(
  env: Record<string, string>,
  readyWithinMs = 60_000,
  cwd?: string,
): Promise<ServedCluster> {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    cwd,
    env: { PATH: process.env.PATH, GATEHOUSE_METRICS_PORT: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.resume();
  await vi
    .waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`gatehouse exited early:\n${stdout}`);
        if (!stdout.includes('"msg":"Gatehouse is ready"')) throw new Error('not ready yet');
      },
      { timeout: readyWithinMs, interval: 50 },
    )
    .catch((error: unknown) => {
      if (child.exitCode === null) child.kill('SIGKILL');
      throw error;
    });
  const workers = [
    ...new Set(
      stdout
        .split('\n')
        .filter((line) => line.includes('"msg":"worker listening"'))
        .map((line) => (JSON.parse(line) as { worker: number }).worker),
    ),
  ];
  return {
    child,
    output: () => stdout,
    workers,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
