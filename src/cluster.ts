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
 * A write in one worker reaches the others before its answer goes out: the worker's
 * after-commit step (see `store/epochs.ts`) sends the changed cache names to the
 * primary, which relays them to every other worker; each drops those caches and
 * acknowledges, and the primary answers the origin once all have (or after
 * RELAY_TIMEOUT_MS, naming the ones that did not; they catch up with their poll).
 *
 * A worker that dies unexpectedly is replaced after a delay that doubles with
 * each quick death (so a crash at start-up does not spin the CPU). On SIGINT or
 * SIGTERM the primary asks every worker to finish its in-flight requests and
 * exit, waits for them, and returns.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './logger.js';
import { countInvalidation } from './metrics.js';
import type { EpochName, InvalidationBus, KeyedChange } from './store/epochs.js';

/** Messages between the primary and its workers (over the cluster IPC channel). */
export type PrimaryMessage =
  | { gatehouse: 'ready' }
  | { gatehouse: 'shutdown' }
  /**
   * Relayed to every other worker: drop these caches (for a `keyed` change, forget its keys when
   * the worker can), then acknowledge `relay`. `at`: the commit's time (epoch ms).
   */
  | {
      gatehouse: 'invalidate';
      relay: number;
      names: EpochName[];
      at?: number;
      keyed?: KeyedChange<EpochName>[];
    }
  /** To the origin: every other worker has dropped the caches of its request `id` (except `missing`). */
  | { gatehouse: 'invalidated'; id: number; missing: number[] };
type WorkerMessage =
  | { gatehouse: 'listening' }
  /** From the worker that committed a change, at `at` (epoch ms). */
  | {
      gatehouse: 'invalidate';
      id: number;
      names: EpochName[];
      at?: number;
      keyed?: KeyedChange<EpochName>[];
    }
  /** A worker has dropped the caches of relay `relay`. */
  | { gatehouse: 'invalidated'; relay: number };

/** How long the primary waits for the workers' acknowledgements of one relay. */
export const RELAY_TIMEOUT_MS = 200;
/** How long the committing worker waits for the primary's answer before leaving it to the poll. */
export const INVALIDATION_TIMEOUT_MS = 250;

/** A worker that lived shorter than this counts as a quick death for the restart backoff. */
const STABLE_AFTER_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** How long the primary waits for workers to finish in-flight requests before killing them. */
const SHUTDOWN_GRACE_MS = 30_000;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

function messageCheck<M extends { gatehouse: string }>() {
  return <K extends M['gatehouse']>(value: unknown, kind: K): value is Extract<M, { gatehouse: K }> =>
    typeof value === 'object' && value !== null && (value as { gatehouse?: unknown }).gatehouse === kind;
}
const isWorkerMessage = messageCheck<WorkerMessage>();
const isPrimaryMessage = messageCheck<PrimaryMessage>();

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
  /**
   * The node flags each worker starts with (default: the primary's own). The server passes the
   * primary's plus the heap bound (src/worker-heap.ts).
   */
  execArgv?: readonly string[];
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

  // Every live worker (listening or still starting: one that is starting may be loading already).
  const relay = new InvalidationRelay(() => [...startedAt.keys()], send, log);

  if (options.execArgv) cluster.setupPrimary({ execArgv: [...options.execArgv] });
  const fork = () => {
    const worker = cluster.fork(workerEnv);
    startedAt.set(worker, Date.now());
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message, 'invalidate')) {
        relay.request(worker, message.id, message.names, message.at, message.keyed);
        return;
      }
      if (isWorkerMessage(message, 'invalidated')) {
        relay.acknowledged(worker, message.relay);
        return;
      }
      if (!isWorkerMessage(message, 'listening')) return;
      log.debug({ worker: worker.process.pid }, 'worker listening');
      listening.add(worker);
      if (prepared) send(worker, { gatehouse: 'ready' });
      checkStarted();
    });
    worker.on('exit', (code, signal) => {
      const lived = Date.now() - (startedAt.get(worker) ?? Date.now());
      startedAt.delete(worker);
      listening.delete(worker);
      // A dead worker caches nothing: stop waiting for it.
      relay.gone(worker);
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
    relay.close();
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

/** What the relay needs of a worker (node's `Worker`; tests pass stand-ins). */
export interface RelayWorker {
  isConnected(): boolean;
  readonly process: { readonly pid?: number };
}

/**
 * In the primary: relays one worker's committed change to every other worker and answers the
 * origin when all have acknowledged (or after RELAY_TIMEOUT_MS, naming those that did not).
 */
export class InvalidationRelay<W extends RelayWorker = Worker> {
  private next = 0;
  private readonly pending = new Map<
    number,
    { origin: W; id: number; waiting: Set<W>; timer: NodeJS.Timeout }
  >();

  constructor(
    private readonly workers: () => W[],
    private readonly send: (worker: W, message: PrimaryMessage) => void,
    private readonly log: Pick<Logger, 'warn'>,
  ) {}

  request(origin: W, id: number, names: EpochName[], at?: number, keyed?: KeyedChange<EpochName>[]): void {
    const relay = ++this.next;
    const waiting = new Set(this.workers().filter((w) => w !== origin && w.isConnected()));
    const timer = setTimeout(() => this.finish(relay), RELAY_TIMEOUT_MS);
    timer.unref();
    this.pending.set(relay, { origin, id, waiting, timer });
    const message: PrimaryMessage = {
      gatehouse: 'invalidate',
      relay,
      names,
      ...(at === undefined ? {} : { at }),
      ...(keyed === undefined || keyed.length === 0 ? {} : { keyed }),
    };
    for (const worker of waiting) this.send(worker, message);
    if (waiting.size === 0) this.finish(relay);
  }

  acknowledged(worker: W, relay: number): void {
    const entry = this.pending.get(relay);
    if (!entry) return;
    entry.waiting.delete(worker);
    if (entry.waiting.size === 0) this.finish(relay);
  }

  gone(worker: W): void {
    for (const [relay, entry] of this.pending) {
      if (entry.origin === worker) {
        clearTimeout(entry.timer);
        this.pending.delete(relay);
      } else if (entry.waiting.delete(worker) && entry.waiting.size === 0) this.finish(relay);
    }
  }

  close(): void {
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
  }

  private finish(relay: number): void {
    const entry = this.pending.get(relay);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(relay);
    const missing = [...entry.waiting].map((w) => w.process.pid ?? 0);
    if (missing.length > 0)
      this.log.warn({ workers: missing }, 'workers did not acknowledge a cache invalidation in time');
    this.send(entry.origin, { gatehouse: 'invalidated', id: entry.id, missing });
  }
}

export interface WorkerLink {
  /** Resolves when the primary asks this worker to stop (finish in-flight requests, close, exit). */
  readonly stopRequested: Promise<void>;
  /** Tells the primary this worker listens; it answers 'ready' once preparation is over. */
  reportListening(): void;
  /** After everything is closed: drop the IPC channel so the process can exit. */
  leave(): void;
  /** Carries this worker's committed changes to the other workers (through the primary). */
  readonly bus: InvalidationBus;
  /**
   * What this worker does with another worker's change (drop the caches, or forget the keys of a
   * keyed change). Until it is set, relays are acknowledged at once: nothing has been cached yet.
   */
  onInvalidate(drop: (names: EpochName[], keyed: KeyedChange<EpochName>[]) => void): void;
}

/**
 * In a worker, before anything slow: starts listening to the primary, so that neither 'ready'
 * nor 'shutdown' is missed while the store opens and the app is built.
 */
export function joinPrimary(onReady: () => void, log: Logger): WorkerLink {
  let requestStop = () => {};
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve;
  });
  let drop: (names: EpochName[], keyed: KeyedChange<EpochName>[]) => void = () => {};
  let nextId = 0;
  const answers = new Map<number, (missing: number[]) => void>();
  const tell = (message: WorkerMessage) => {
    if (process.connected) process.send?.(message);
  };
  process.on('message', (message: unknown) => {
    if (isPrimaryMessage(message, 'invalidate')) {
      countInvalidation('relay', message.at);
      try {
        drop(message.names, message.keyed ?? []);
      } finally {
        tell({ gatehouse: 'invalidated', relay: message.relay });
      }
    } else if (isPrimaryMessage(message, 'invalidated')) {
      answers.get(message.id)?.(message.missing);
    } else if (isPrimaryMessage(message, 'ready')) onReady();
    else if (isPrimaryMessage(message, 'shutdown')) requestStop();
  });
  const bus: InvalidationBus = {
    publish(names, keyed = []) {
      if (!process.connected) return Promise.resolve();
      const id = ++nextId;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          answers.delete(id);
          log.warn(
            { names, timeoutMs: INVALIDATION_TIMEOUT_MS },
            'the other workers did not confirm a cache invalidation in time; they will catch up with the cache-epoch poll',
          );
          resolve();
        }, INVALIDATION_TIMEOUT_MS);
        answers.set(id, (missing) => {
          clearTimeout(timer);
          answers.delete(id);
          if (missing.length > 0)
            log.warn(
              { names, workers: missing },
              'some workers did not confirm a cache invalidation in time; they will catch up with the cache-epoch poll',
            );
          resolve();
        });
        tell({
          gatehouse: 'invalidate',
          id,
          names: [...names],
          at: Date.now(),
          ...(keyed.length === 0 ? {} : { keyed: [...keyed] }),
        });
      });
    },
  };
  return {
    stopRequested,
    bus,
    onInvalidate(handler) {
      drop = handler;
    },
    reportListening() {
      tell({ gatehouse: 'listening' });
    },
    leave() {
      if (process.connected) process.disconnect();
    },
  };
}
