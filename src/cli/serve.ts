/**
 * `gatehouse serve`: listen first (so /readyz can say "starting"), then
 * migrate and bootstrap, then accept traffic. SIGINT/SIGTERM stop accepting,
 * finish in-flight requests, close the database and exit 0.
 */
import type { Command } from 'commander';
import { buildApp } from '../app.js';
import { openRuntime, prepareRuntime, resolveSecretKey } from '../bootstrap.js';
import { type Config, isLoopback, loadConfig } from '../config.js';
import { createLogger, type Logger } from '../logger.js';
import { WorkflowEngine } from '../workflows/engine.js';
import { type CliIo, effectiveEnv } from './io.js';

export function printBootstrapAdmin(io: CliIo, admin: { email: string; generatedPassword?: string }): void {
  if (admin.generatedPassword === undefined) {
    io.stdout.write(`Created the first admin ${admin.email} with the password from GATEHOUSE_ADMIN_PASSWORD.\n`);
    return;
  }
  io.stdout.write(
    [
      '',
      '  First admin created. This password is shown once; you must change it at first sign-in.',
      `    email:    ${admin.email}`,
      `    password: ${admin.generatedPassword}`,
      '',
      '',
    ].join('\n'),
  );
}

function warnAboutUnsafeChoices(config: Config, log: Logger): void {
  if (!isLoopback(config.host)) {
    log.warn({ host: config.host }, 'serving plain HTTP on a non-loopback address; put TLS in front of Gatehouse');
  }
  if (config.issuer.startsWith('http://') && !/^http:\/\/(localhost|127\.|\[::1\])/.test(config.issuer)) {
    log.warn({ issuer: config.issuer }, 'GATEHOUSE_ISSUER is plain http on a public name; tokens will travel unencrypted');
  }
}

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/** Starts a single-process server; resolves once it is ready. */
export async function startServer(config: Config, io: CliIo, log: Logger): Promise<RunningServer> {
  const { generatedFile } = resolveSecretKey(config);
  if (generatedFile) log.warn({ file: generatedFile }, 'generated a new secret key; back it up with the data directory');
  warnAboutUnsafeChoices(config, log);
  const runtime = await openRuntime(config, log);
  const readiness = { ready: false };
  const app = await buildApp({ config, store: runtime.store, services: runtime.services, logger: log, readiness });
  try {
    await app.listen({ port: config.port, host: config.host });
    const result = await prepareRuntime(runtime, { bootstrapAdmin: true });
    if (result.appliedMigrations.length > 0) log.info({ migrations: result.appliedMigrations }, 'applied migrations');
    if (result.bootstrapAdmin) printBootstrapAdmin(io, result.bootstrapAdmin);
  } catch (error) {
    await app.close();
    await runtime.close();
    throw error;
  }
  // Every serving process runs a workflow engine; leases keep them from running one step twice.
  const engine = new WorkflowEngine(runtime.services.ctx);
  runtime.services.workflows.attachEngine(engine);
  engine.start();
  readiness.ready = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info({ url, issuer: config.issuer, store: runtime.store.dialect }, 'Gatehouse is ready');
  return {
    url,
    async stop() {
      await engine.stop();
      await app.close();
      await runtime.close();
    },
  };
}

export function registerServe(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run the Gatehouse HTTP server')
    .option('-p, --port <port>', 'TCP port (overrides PORT)')
    .option('--host <host>', 'address to bind (overrides HOST)')
    .action(async (opts: { port?: string; host?: string }, command: Command) => {
      const env = { ...effectiveEnv(io, command) };
      if (opts.port !== undefined) env.PORT = opts.port;
      if (opts.host !== undefined) env.HOST = opts.host;
      const config = loadConfig(env, io.cwd);
      const log = createLogger(config.logLevel);
      const server = await startServer(config, io, log);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          log.info({ signal }, 'shutting down: finishing in-flight requests');
          server.stop().then(
            () => resolve(),
            (error: unknown) => {
              log.error({ err: error }, 'error while shutting down');
              resolve();
            },
          );
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      log.info('stopped');
    });
}
