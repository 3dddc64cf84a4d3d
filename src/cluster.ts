/**
 * Serving on every core with `node:cluster`.
 *
 * The primary never serves HTTP. It forks the workers at once, so that
 * `/readyz` answers 503 ("starting") while it runs the one-time preparation
 * (migrations, system roles, first admin, signing keys); then it tells every
 * worker to accept traffic. Each worker opens its own store (SQLite in WAL mode
 * with a busy timeout is safe across processes; PostgreSQL gets a pool per
 * process) and listens on the shared port.
 *
 * A worker that dies unexpectedly is replaced after a delay that doubles with
 * each quick death (so a crash at start-up does not spin the CPU). On SIGINT or
 * SIGTERM the primary asks every worker to finish its in-flight requests and
 * exit, waits for them, and returns.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './logger.js';

/** Messages between the primary and its workers (over the cluster IPC channel). */
type PrimaryMessage = { gatehouse: 'ready' } | { gatehouse: 'shutdown' };
type WorkerMessage = { gatehouse: 'listening' };

/** A worker that lived shorter than this counts as a quick death for the restart backoff. */
const STABLE_AFTER_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** How long the primary waits for workers to finish in-flight requests before killing them. */
const SHUTDOWN_GRACE_MS = 30_000;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

function isMessage<T extends { gatehouse: string }>(value: unknown, kind: T['gatehouse']): value is T {
  return typeof value === 'object' && value !== null && (value as { gatehouse?: unknown }).gatehouse === kind;
}

/** Delay before the next restart after `quickDeaths` consecutive short-lived workers. */
export function restartDelay(quickDeaths: number): number {
  if (quickDeaths <= 0) return 0;
  return Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** (quickDeaths - 1));
}

export interface PrimaryOptions {
  workers: number;
  log: Logger;
  /** Environment added to each worker's (the primary's own, with CLI flags applied). */
  workerEnv: Record<string, string>;
  /** The one-time preparation; workers are told to accept traffic once it resolves. */
  prepare: () => Promise<void>;
}

export interface RunningPrimary {
  /** Asks every worker to finish in-flight requests and exit; resolves when all have. */
  stop(): Promise<void>;
}

/**
 * Forks the workers, runs `prepare` once, tells the workers to take traffic, and resolves when
 * every worker listens. A worker that exits during start-up fails the start (like a single
 * process would); after that, a dead worker is replaced with backoff.
 */
export async function startPrimary(options: PrimaryOptions): Promise<RunningPrimary> {
  const { log, workers: count, workerEnv } = options;
  const startedAt = new Map<Worker, number>();
  const listening = new Set<Worker>();
  let prepared = false;
  let started = false;
  let stopping = false;
  let quickDeaths = 0;
  const restartTimers = new Set<NodeJS.Timeout>();
  let startup: { resolve(): void; reject(error: Error): void } | undefined;
  const allListening = new Promise<void>((resolve, reject) => {
    startup = { resolve, reject };
  });
  // Rejections are handled by the awaiting code below; don't let an early one go unobserved.
  allListening.catch(() => {});

  const send = (worker: Worker, message: PrimaryMessage) => {
    if (worker.isConnected()) worker.send(message);
  };
  const checkStarted = () => {
    if (prepared && listening.size >= count) startup?.resolve();
  };

  const fork = () => {
    const worker = cluster.fork(workerEnv);
    startedAt.set(worker, Date.now());
    worker.on('message', (message: unknown) => {
      if (!isMessage<WorkerMessage>(message, 'listening')) return;
      log.debug({ worker: worker.process.pid }, 'worker listening');
      listening.add(worker);
      if (prepared) send(worker, { gatehouse: 'ready' });
      checkStarted();
    });
    worker.on('exit', (code, signal) => {
      const lived = Date.now() - (startedAt.get(worker) ?? Date.now());
      startedAt.delete(worker);
      listening.delete(worker);
      if (stopping) return;
      if (!started) {
        startup?.reject(
          new Error(`a worker process exited during start-up (code ${code}, signal ${signal})`),
        );
        return;
      }
      quickDeaths = lived < STABLE_AFTER_MS ? quickDeaths + 1 : 1;
      const delay = restartDelay(quickDeaths);
      log.error(
        { worker: worker.process.pid, code, signal, restartInMs: delay },
        'worker died; starting a new one',
      );
      const timer = setTimeout(() => {
        restartTimers.delete(timer);
        if (!stopping) fork();
      }, delay);
      restartTimers.add(timer);
    });
  };

  const stop = async () => {
    stopping = true;
    for (const timer of restartTimers) clearTimeout(timer);
    restartTimers.clear();
    await Promise.all(
      [...startedAt.keys()].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => {
              log.warn({ worker: worker.process.pid }, 'worker did not stop in time; killing it');
              worker.process.kill('SIGKILL');
            }, SHUTDOWN_GRACE_MS);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            send(worker, { gatehouse: 'shutdown' });
          }),
      ),
    );
  };

  for (let i = 0; i < count; i += 1) fork();
  try {
    await options.prepare();
    prepared = true;
    for (const worker of listening) send(worker, { gatehouse: 'ready' });
    checkStarted();
    await allListening;
  } catch (error) {
    await stop();
    throw error;
  }
  started = true;
  return { stop };
}

export interface WorkerLink {
  /** Resolves when the primary asks this worker to stop (finish in-flight requests, close, exit). */
  readonly stopRequested: Promise<void>;
  /** Tells the primary this worker listens; it answers 'ready' once preparation is over. */
  reportListening(): void;
  /** After everything is closed: drop the IPC channel so the process can exit. */
  leave(): void;
}

/**
 * In a worker, before anything slow: starts listening to the primary, so that neither 'ready'
 * nor 'shutdown' is missed while the store opens and the app is built.
 */
export function joinPrimary(onReady: () => void): WorkerLink {
  let requestStop = () => {};
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve;
  });
  process.on('message', (message: unknown) => {
    if (isMessage<PrimaryMessage>(message, 'ready')) onReady();
    else if (isMessage<PrimaryMessage>(message, 'shutdown')) requestStop();
  });
  return {
    stopRequested,
    reportListening() {
      process.send?.({ gatehouse: 'listening' } satisfies WorkerMessage);
    },
    leave() {
      if (process.connected) process.disconnect();
    },
  };
}
