/**
 * Opens the configured store for one CLI command, runs it, and closes everything.
 * The store and services are imported on first use, so `--help` stays quick.
 */
import type { Command } from 'commander';
import type { Runtime } from '../bootstrap.js';
import { type Config, loadConfig } from '../config.js';
import { type CliIo, effectiveEnv } from './io.js';

/** The validated config for this command: environment plus the global --data-dir/--database-url flags. */
export function commandConfig(io: CliIo, command: Command): Config {
  return loadConfig(effectiveEnv(io, command), io.cwd);
}

/** Opens the store without migrating (for `migrate` and `init`, which decide that themselves). */
export async function openCliRuntime(config: Config): Promise<Runtime> {
  const [{ openRuntime }, { silentLogger }] = await Promise.all([
    import('../bootstrap.js'),
    import('../logger.js'),
  ]);
  return openRuntime(config, silentLogger());
}

/** Runs `work` against a migrated store with system roles in place; always closes the store. */
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
