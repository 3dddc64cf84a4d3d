/**
 * `gatehouse serve`. The server itself lives in `server.ts` and is imported only
 * when this command runs, so `--help` and the data commands start quickly.
 */
import type { Command } from 'commander';
import { type CliIo, effectiveEnv } from './io.js';

export function registerServe(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run the Gatehouse HTTP server (GATEHOUSE_WORKERS processes)')
    .option('-p, --port <port>', 'TCP port (overrides PORT)')
    .option('--host <host>', 'address to bind (overrides HOST)')
    .action(async (opts: { port?: string; host?: string }, command: Command) => {
      const env = { ...effectiveEnv(io, command) };
      if (opts.port !== undefined) env.PORT = opts.port;
      if (opts.host !== undefined) env.HOST = opts.host;
      const { runServe } = await import('./server.js');
      await runServe(io, env);
    });
}
