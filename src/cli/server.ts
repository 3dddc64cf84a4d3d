/**
 * What `gatehouse serve` does (`serve.ts` registers the command and loads this
 * file only when it runs): listen first (so /readyz can say "starting"), then
 * migrate and bootstrap, then accept traffic. SIGINT/SIGTERM stop accepting,
 * finish in-flight requests, close the database and exit 0.
 *
 * With GATEHOUSE_WORKERS > 1 the same steps are split across processes (see
 * `src/cluster.ts`): the primary prepares once, the workers serve.
 *
 * With GATEHOUSE_TLS_CERT/_KEY every serving process speaks HTTPS, and SIGHUP (to the single
 * process, or to the primary, which checks the files and passes it on to every worker) reads the
 * certificate and key again without dropping a connection.
 */
import cluster from 'node:cluster';
import fs from 'node:fs';
import type tls from 'node:tls';
import { type App, buildApp } from '../app.js';
import { type BackgroundJobs, startBackgroundJobs } from '../background.js';
import { openRuntime, prepareRuntime, resolveSecretKey, type Runtime } from '../bootstrap.js';
import {
  isClusterWorker,
  joinPrimary,
  type RunningPrimary,
  startPrimary as startClusterPrimary,
  type WorkerLink,
} from '../cluster.js';
import { type Config, type Env, isLoopback, loadConfig } from '../config.js';
import { createLogger, type Logger, resolveLogFormat } from '../logger.js';
import {
  clusterMetricsSource,
  collectProcessMetrics,
  type MetricsSource,
  processMetricsSource,
  reportMetricsToPrimary,
  setScrapeSources,
} from '../metrics.js';
import { type MetricsListener, startMetricsListener } from '../metrics-server.js';
import { loadTlsMaterial, reloadTlsMaterial, type TlsMaterial } from '../tls.js';
import { workerExecArgv, workerHeapBound } from '../worker-heap.js';
import { WorkflowEngine } from '../workflows/engine.js';
import type { CliIo } from './io.js';
import { printBootstrapAdmin } from './output.js';

/** Group or world access to the data directory exposes the secret key and the database. */
export function warnAboutOpenDataDir(config: Config, log: Logger): void {
  if (config.databaseUrl !== undefined && config.secretKey !== undefined) return;
  let mode: number;
  try {
    mode = fs.statSync(config.dataDir).mode & 0o777;
  } catch {
    return;
  }
  if ((mode & 0o077) !== 0) {
    log.warn(
      { dataDir: config.dataDir, mode: mode.toString(8).padStart(4, '0') },
      'the data directory is accessible to other users; restrict it with: chmod 700 <data dir>',
    );
  }
}

function warnAboutUnsafeChoices(config: Config, log: Logger): void {
  warnAboutOpenDataDir(config, log);
  if (!isLoopback(config.host) && config.tls === undefined) {
    log.warn(
      { host: config.host },
      'serving plain HTTP on a non-loopback address; put TLS in front of Gatehouse',
    );
  }
  if (config.issuer.startsWith('http://') && !/^http:\/\/(localhost|127\.|\[::1\])/.test(config.issuer)) {
    log.warn(
      { issuer: config.issuer },
      'GATEHOUSE_ISSUER is plain http on a public name; tokens will travel unencrypted',
    );
  }
}

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

function baseUrl(config: Config, port: number): string {
  const { host } = config;
  return `${config.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function listenUrl(app: App, config: Config): string {
  const address = app.server.address();
  return baseUrl(config, typeof address === 'object' && address ? address.port : config.port);
}

/** The certificate and key, checked; logs what is served and warns when it has expired. */
function loadTls(config: Config, log: Logger): TlsMaterial | undefined {
  if (config.tls === undefined) return undefined;
  const material = loadTlsMaterial(config.tls);
  const { summary } = material;
  if (summary.expired) log.warn({ ...summary, file: config.tls.certFile }, 'the TLS certificate has expired');
  else log.debug({ ...summary, file: config.tls.certFile }, 'serving HTTPS');
  return material;
}

/**
 * On SIGHUP, reads the certificate and key again and gives the server the new pair: new
 * connections get it, open ones carry on. A bad file is logged and the old pair kept.
 * Returns the function that removes the handler.
 */
function reloadTlsOnSighup(app: App, config: Config, log: Logger): () => void {
  const files = config.tls;
  if (files === undefined) return () => {};
  const reload = () => {
    try {
      const { summary } = reloadTlsMaterial(app.server as unknown as tls.Server, files);
      log.info(
        { subject: summary.subject, validTo: summary.validTo },
        'reloaded the TLS certificate and key',
      );
    } catch (error) {
      log.error(
        { err: error },
        'could not reload the TLS certificate and key; still serving the previous ones',
      );
    }
  };
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}

/** What every serving process holds: the store and services, a workflow engine and the app. */
interface ServingProcess {
  app: App;
  runtime: Runtime;
  /** Not started here: runs wait until the migrations are done. */
  engine: WorkflowEngine;
  /** Starts the engine and the background jobs (once the migrations are done); idempotent. */
  startWork(): void;
  close(): Promise<void>;
}

/** Opens the store, attaches a workflow engine, builds the app and listens (not ready yet). */
async function openServingProcess(
  config: Config,
  log: Logger,
  readiness: { ready: boolean },
  link?: WorkerLink,
): Promise<ServingProcess> {
  const runtime = await openRuntime(config, log);
  if (link) {
    // Before anything is cached: this worker's changes reach the other workers before its
    // answer goes out, and theirs drop this worker's caches.
    const { epochs } = runtime.services;
    epochs.setBus(link.bus);
    link.onInvalidate((names, keyed) => epochs.apply(names, keyed));
  }
  // Every serving process runs a workflow engine; leases keep them from running one step twice.
  const engine = new WorkflowEngine(runtime.services.ctx);
  runtime.services.workflows.attachEngine(engine);
  // What the metrics read when scraped (the active key's age, the run queue, the pg pool).
  collectProcessMetrics();
  const { store } = runtime;
  setScrapeSources({
    signingKeyCreatedAt: () => runtime.services.keys.activeKeyCreatedAt(),
    workflowQueue: () => engine.queueDepth(),
    dbPool: () => store.poolStats?.(),
  });
  const app = await buildApp({
    config,
    store: runtime.store,
    services: runtime.services,
    logger: log,
    readiness,
    tls: loadTls(config, log),
  });
  const stopReloadingTls = reloadTlsOnSighup(app, config, log);
  let jobs: BackgroundJobs | undefined;
  const startWork = () => {
    engine.start();
    jobs ??= startBackgroundJobs(runtime.services);
  };
  const close = async () => {
    stopReloadingTls();
    await engine.stop();
    await jobs?.stop();
    await app.close();
    await runtime.close();
  };
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await close();
    throw error;
  }
  return { app, runtime, engine, startWork, close };
}

/** Secret key (generated on first start) and the start-up warnings: once per node, in the primary. */
function resolveKeyAndWarn(config: Config, log: Logger): void {
  const { generatedFile } = resolveSecretKey(config);
  if (generatedFile)
    log.warn({ file: generatedFile }, 'generated a new secret key; back it up with the data directory');
  warnAboutUnsafeChoices(config, log);
}

/** The one-time preparation; prints the bootstrap admin's password if it was generated just now. */
async function prepare(runtime: Runtime, io: CliIo, log: Logger): Promise<void> {
  const result = await prepareRuntime(runtime, { bootstrapAdmin: true });
  if (result.appliedMigrations.length > 0)
    log.info({ migrations: result.appliedMigrations }, 'applied migrations');
  if (result.bootstrapAdmin) printBootstrapAdmin(io, result.bootstrapAdmin);
}

/** The metrics listener of this node (off, or a taken port: undefined). */
function listenForScrapes(
  config: Config,
  source: MetricsSource,
  log: Logger,
): Promise<MetricsListener | undefined> {
  return startMetricsListener({ port: config.metricsPort, host: config.metricsHost, source }, log);
}

/** Starts a single-process server (GATEHOUSE_WORKERS=1); resolves once it is ready. */
export async function startServer(config: Config, io: CliIo, log: Logger): Promise<RunningServer> {
  resolveKeyAndWarn(config, log);
  const readiness = { ready: false };
  const serving = await openServingProcess(config, log, readiness);
  let metrics: MetricsListener | undefined;
  try {
    await prepare(serving.runtime, io, log);
    metrics = await listenForScrapes(config, processMetricsSource(), log);
  } catch (error) {
    await serving.close();
    throw error;
  }
  serving.startWork();
  readiness.ready = true;
  const url = listenUrl(serving.app, config);
  log.info(
    { url, issuer: config.issuer, store: serving.runtime.store.dialect, metrics: metrics?.url },
    'Gatehouse is ready',
  );
  return {
    url,
    async stop() {
      await metrics?.close();
      await serving.close();
    },
  };
}

/**
 * The cluster primary: resolves the key, opens the store (creating the SQLite file in WAL mode
 * before any worker opens it), forks the workers, prepares once, then lets the workers take traffic.
 * It keeps no store open while serving.
 */
async function startPrimary(config: Config, io: CliIo, log: Logger, workerEnv: Record<string, string>) {
  resolveKeyAndWarn(config, log);
  // Checked before any worker starts, so a bad certificate stops the start with one clear line.
  loadTls(config, log);
  const runtime = await openRuntime(config, log);
  // Each worker's V8 heap is bounded from the settings (README › Scale: worker memory).
  const heap = workerHeapBound(config);
  let primary: RunningPrimary;
  try {
    primary = await startClusterPrimary({
      workers: config.workers,
      log,
      workerEnv,
      execArgv: workerExecArgv(heap, process.execArgv, process.env.NODE_OPTIONS),
      prepare: () => prepare(runtime, io, log),
    });
  } finally {
    await runtime.close();
  }
  // The primary serves the scrape: it asks every worker and adds their metrics up.
  let metrics: MetricsListener | undefined;
  try {
    metrics = await listenForScrapes(config, clusterMetricsSource(), log);
  } catch (error) {
    await primary.stop();
    throw error;
  }
  const url = baseUrl(config, config.port);
  log.info(
    {
      url,
      issuer: config.issuer,
      store: runtime.store.dialect,
      workers: config.workers,
      workerHeapMb: heap
        ? { oldSpace: heap.oldSpaceMb, semiSpace: heap.semiSpaceMb, source: heap.source }
        : 'V8 default',
      metrics: metrics?.url,
    },
    'Gatehouse is ready',
  );
  const files = config.tls;
  // The primary serves nothing itself: with TLS it checks the files, then passes SIGHUP to every worker.
  const passOn = () => {
    if (files === undefined) return;
    try {
      loadTlsMaterial(files);
    } catch (error) {
      log.error({ err: error }, 'not reloading the TLS certificate and key: the new files are unusable');
      return;
    }
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  };
  if (files !== undefined) process.on('SIGHUP', passOn);
  return {
    async stop() {
      process.off('SIGHUP', passOn);
      await metrics?.close();
      await primary.stop();
    },
  };
}

/** A cluster worker: listens at once (not ready), and takes traffic when the primary says so. */
async function startWorker(
  config: Config,
  log: Logger,
): Promise<RunningServer & { stopRequested: Promise<void> }> {
  const readiness = { ready: false };
  let serving: ServingProcess | undefined;
  // Before anything slow, like joinPrimary: the primary may ask for metrics at any time.
  reportMetricsToPrimary();
  const link = joinPrimary(() => {
    readiness.ready = true;
    // Runs wait until the primary has migrated; then every worker runs an engine (leases keep them apart).
    serving?.startWork();
  }, log);
  serving = await openServingProcess(config, log, readiness, link);
  if (readiness.ready) serving.startWork();
  link.reportListening();
  const { app, close } = serving;
  return {
    url: listenUrl(app, config),
    stopRequested: link.stopRequested,
    async stop() {
      try {
        await close();
      } finally {
        link.leave();
      }
    },
  };
}

/** Resolves on the first SIGINT/SIGTERM (or `other`), naming what asked. */
function stopRequest(other?: Promise<void>): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    other?.then(() => resolve('primary'));
  });
}

/** The `serve` command's work, loaded only when `serve` runs (keeps the other commands quick to start). */
export async function runServe(io: CliIo, env: Env): Promise<void> {
  const config = loadConfig(env, io.cwd);
  const isTerminal = (io.stdout as { isTTY?: boolean }).isTTY === true;
  const log = createLogger(config.logLevel, undefined, resolveLogFormat(config.logFormat, isTerminal));
  let server: { stop(): Promise<void> };
  let stopRequested: Promise<string>;
  if (isClusterWorker()) {
    const worker = await startWorker(config, log);
    server = worker;
    stopRequested = stopRequest(worker.stopRequested);
  } else if (config.workers > 1) {
    server = await startPrimary(config, io, log, definedOnly(env));
    stopRequested = stopRequest();
  } else {
    server = await startServer(config, io, log);
    stopRequested = stopRequest();
  }
  const signal = await stopRequested;
  log.info({ signal }, 'shutting down: finishing in-flight requests');
  try {
    await server.stop();
  } catch (error) {
    log.error({ err: error }, 'error while shutting down');
  }
  log.info('stopped');
}

function definedOnly(env: Env): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
