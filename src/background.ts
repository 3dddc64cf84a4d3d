/**
 * The per-process background work of a serving process, started and stopped in
 * one place (`cli/server.ts`), never by an HTTP plugin:
 *   - cache-epoch polling and (PostgreSQL) LISTEN for other nodes' changes, so writes on other
 *     processes and nodes reach this one's caches;
 *   - maintenance every minute: retire keys whose tokens have expired, rotate
 *     when due, prune expired revocations and throttle counters whose window has ended;
 *     and the streams' cleanup (abandoned executions past GATEHOUSE_STREAM_EXECUTION_TTL_HOURS,
 *     streams whose DataSet is gone, stray part tables), on its own so a failure of one
 *     does not stop the other;
 *   - DataSet table sweep shortly after start and every 10 minutes: staging tables of imports
 *     that died and tables a REPLACE retired, once old enough (services/dataset-load.ts);
 *   - audit retention every hour: delete events older than GATEHOUSE_AUDIT_RETENTION_DAYS,
 *     1,000 per statement with a turn of the event loop between statements. Every serving
 *     process runs it; when two pick the same oldest batch, one deletes it and the other finds
 *     nothing left and stops, so they do not pile up. The API platform's call logs and their
 *     per-minute and per-hour counters older than GATEHOUSE_PLATFORM_LOG_RETENTION_DAYS go in the
 *     same run, the same way.
 *
 * The batched `last_used_at` writes and the gateway's call-log buffer are flushed when the app
 * closes (app.ts), since they belong to the requests it served.
 * The workflow engine is started beside it (it waits for the migrations).
 */
import type { Services } from './services/index.js';

/** How often token maintenance runs. Key rotation is counted in days, so a minute is precise enough. */
export const MAINTENANCE_INTERVAL_MS = 60_000;
/** How often old audit events are pruned; the first run is a minute after start, not during it. */
export const AUDIT_PRUNE_INTERVAL_MS = 3_600_000;
const AUDIT_PRUNE_FIRST_MS = 60_000;
/** How often stale DataSet tables are swept; the first sweep runs this long after start. */
export const DATASET_SWEEP_INTERVAL_MS = 600_000;
const DATASET_SWEEP_FIRST_MS = 5_000;

export interface BackgroundJobs {
  /** Stops the timers; safe to call twice. */
  stop(): Promise<void>;
}

export function startBackgroundJobs(services: Services): BackgroundJobs {
  const log = services.ctx.log;
  services.epochs.start({ intervalMs: services.ctx.config.cachePollMs, log });
  const maintenance = setInterval(() => {
    runMaintenance(services).catch((error: unknown) => log.warn({ err: error }, 'token maintenance failed'));
    sweepStreams(services).catch((error: unknown) => log.warn({ err: error }, 'streams cleanup failed'));
  }, MAINTENANCE_INTERVAL_MS);
  maintenance.unref();
  const pruning = new AbortController();
  let pruneRun: Promise<void> = Promise.resolve();
  const prune = () => {
    pruneRun = pruneAudit(services, pruning.signal)
      .then(
        () => undefined,
        (error: unknown) => log.warn({ err: error }, 'audit retention: pruning failed'),
      )
      .then(() => pruneCallLogs(services, pruning.signal))
      .then(
        () => undefined,
        (error: unknown) => log.warn({ err: error }, 'API platform call-log retention: pruning failed'),
      );
  };
  let pruneTimer: NodeJS.Timeout = setTimeout(() => {
    prune();
    pruneTimer = setInterval(prune, AUDIT_PRUNE_INTERVAL_MS);
    pruneTimer.unref();
  }, AUDIT_PRUNE_FIRST_MS);
  pruneTimer.unref();
  let sweepRun: Promise<void> = Promise.resolve();
  const sweep = () => {
    sweepRun = services.datasets.sweepTables().then(
      () => undefined,
      (error: unknown) => log.warn({ err: error }, 'DataSet table sweep failed'),
    );
  };
  let sweepTimer: NodeJS.Timeout = setTimeout(() => {
    sweep();
    sweepTimer = setInterval(sweep, DATASET_SWEEP_INTERVAL_MS);
    sweepTimer.unref();
  }, DATASET_SWEEP_FIRST_MS);
  sweepTimer.unref();
  let stopped = false;
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await services.epochs.stop();
      clearInterval(maintenance);
      clearTimeout(pruneTimer);
      clearInterval(pruneTimer);
      pruning.abort();
      clearTimeout(sweepTimer);
      clearInterval(sweepTimer);
      await pruneRun;
      await sweepRun;
    },
  };
}

/** Deletes audit events older than the configured retention (none when it is 0). */
export async function pruneAudit(services: Services, signal?: AbortSignal): Promise<number> {
  const days = services.ctx.config.auditRetentionDays;
  const deleted = await services.audit.prune(days, { signal });
  if (deleted > 0)
    services.ctx.log.info({ deleted, retentionDays: days }, 'audit retention: pruned old events');
  return deleted;
}

/** Deletes API platform call logs and their per-minute and per-hour counters older than the configured retention (none when 0). */
export async function pruneCallLogs(services: Services, signal?: AbortSignal): Promise<number> {
  const days = services.ctx.config.platformLogRetentionDays;
  const { logs, minutes, hours } = await services.callLogs.prune(days, { signal });
  if (logs > 0 || minutes > 0 || hours > 0)
    services.ctx.log.info(
      { deleted: logs, minutes, hours, retentionDays: days },
      'API platform call-log retention: pruned old calls',
    );
  return logs;
}

/** Retires keys whose tokens have expired, rotates when due, prunes expired revocations and throttle counters. */
export async function runMaintenance(services: Services): Promise<void> {
  await services.keys.retireExpired();
  await services.keys.rotateIfDue();
  await services.tokens.pruneRevoked();
  await services.throttle.prune();
}

/** Aborts abandoned stream executions and drops what belongs to nothing any more (see StreamsService.sweep). */
export async function sweepStreams(services: Services): Promise<void> {
  const result = await services.streams.sweep();
  if (result.expired > 0 || result.orphanStreams > 0)
    services.ctx.log.info(
      { ...result, ttlHours: services.ctx.config.streamExecutionTtlHours },
      'streams: aborted abandoned executions / removed streams of deleted DataSets',
    );
}

/** Writes the pending `last_used_at` batches of API clients and developer tokens. */
export async function flushLastUse(services: Services): Promise<void> {
  const log = services.ctx.log;
  await services.clients.flushLastUsed().catch((error: unknown) => {
    log.warn({ err: error }, 'could not record last use of API clients');
  });
  await services.accessTokens.flushLastUsed().catch((error: unknown) => {
    log.warn({ err: error }, 'could not record last use of developer access tokens');
  });
}
