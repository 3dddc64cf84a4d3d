/** Opens the configured store for one CLI command, runs it, and closes everything. */
import type { Command } from 'commander';
import { openRuntime, prepareRuntime, type Runtime } from '../bootstrap.js';
import { loadConfig } from '../config.js';
import { silentLogger } from '../logger.js';
import { type CliIo, effectiveEnv } from './io.js';

export async function withRuntime<T>(io: CliIo, command: Command, work: (runtime: Runtime) => Promise<T>): Promise<T> {
  const config = loadConfig(effectiveEnv(io, command), io.cwd);
  const runtime = await openRuntime(config, silentLogger());
  try {
    await prepareRuntime(runtime, { bootstrapAdmin: false });
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}
