/**
 * Opens the configured store for one CLI command, runs it, and closes everything.
 * The store and services are imported on first use, so `--help` stays quick.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Runtime } from '../bootstrap.js';
import { type Config, loadConfig } from '../config.js';
import { type CliIo, globalFlags } from './io.js';

/** The validated config for this command: environment plus the global --data-dir/--database-url flags. */
export function commandConfig(io: CliIo, command: Command): Config {
  return loadConfig(io.env, io.cwd, globalFlags(command));
}

/** The store holds no Gatehouse instance (a mistyped --data-dir, an uninitialised database). */
export class NoInstanceError extends Error {}

/**
 * Only `serve`, `init` and `migrate` create an instance. Every other command refuses to run
 * against a place with none, instead of silently creating an empty one there.
 */
export function assertSqliteInstanceExists(config: Config): void {
  if (config.databaseUrl !== undefined) return;
  const file = path.join(config.dataDir, 'gatehouse.db');
  if (fs.existsSync(file)) return;
  throw new NoInstanceError(
    `no Gatehouse data in ${config.dataDir} (${path.basename(file)} does not exist). ` +
      'Check --data-dir / GATEHOUSE_DATA_DIR, or create an instance there with `gatehouse init`.',
  );
}

async function assertDatabaseInitialised(runtime: Runtime): Promise<void> {
  if (runtime.config.databaseUrl === undefined) return;
  const pending = await runtime.store.pendingMigrations();
  if (!pending.includes('001_foundation')) return;
  const schema = runtime.config.databaseSchema ? ` (schema "${runtime.config.databaseSchema}")` : '';
  throw new NoInstanceError(
    `the PostgreSQL database${schema} is not initialised: run \`gatehouse init\` (or \`gatehouse migrate\`) with the same GATEHOUSE_DATABASE_URL first.`,
  );
}

/**
 * Opens the store without migrating. `create: true` is for the commands that make an
 * instance (`init`, `migrate`); the others need one that exists.
 */
export async function openCliRuntime(config: Config, options: { create?: boolean } = {}): Promise<Runtime> {
  if (!options.create) assertSqliteInstanceExists(config);
  const [{ openRuntime }, { silentLogger }] = await Promise.all([
    import('../bootstrap.js'),
    import('../logger.js'),
  ]);
  const runtime = await openRuntime(config, silentLogger());
  if (options.create) return runtime;
  try {
    await assertDatabaseInitialised(runtime);
  } catch (error) {
    await runtime.close();
    throw error;
  }
  return runtime;
}

/**
 * Runs `work` against an existing instance, migrated (an upgrade applies new migrations) and with
 * system roles in place; always closes the store.
 */
export async function withRuntime<T>(
  io: CliIo,
  command: Command,
  work: (runtime: Runtime) => Promise<T>,
): Promise<T> {
  const config = commandConfig(io, command);
  const { prepareRuntime } = await import('../bootstrap.js');
  const runtime = await openCliRuntime(config);
  try {
    await prepareRuntime(runtime, { bootstrapAdmin: false });
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}
