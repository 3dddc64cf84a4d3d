/**
 * What `GET /readyz` checks: the database answers, every migration is applied, and an active
 * signing key is there and can be unsealed. Load balancers poll it, so it stays cheap: the
 * database check is one `select 1`, the signing key comes from the keys cache (re-read only
 * when the key set changes), and the migration list is read once it is complete and never
 * again (migrations are only ever added), or at most every 5 s while some are pending.
 */
import type { Services } from './services/index.js';
import type { Store } from './store/index.js';

export type CheckName = 'database' | 'migrations' | 'signingKey';
export type CheckResult = 'ok' | 'failed';

export interface Readiness {
  ready: boolean;
  checks: Record<CheckName, CheckResult>;
  /** Why the first failing check failed (absent when ready). */
  message?: string;
}

/** How long a "migrations pending" answer is reused before the list is read again. */
const PENDING_RECHECK_MS = 5000;

export function readinessCheck(
  store: Store,
  services: Services,
  now: () => number = Date.now,
): () => Promise<Readiness> {
  let migrated = false;
  let pendingSeen: { at: number; names: string[] } | undefined;

  const pendingMigrations = async (): Promise<string[]> => {
    if (migrated) return [];
    if (pendingSeen !== undefined && now() - pendingSeen.at < PENDING_RECHECK_MS) return pendingSeen.names;
    const names = await store.pendingMigrations();
    if (names.length === 0) migrated = true;
    else pendingSeen = { at: now(), names };
    return names;
  };

  return async () => {
    const checks: Record<CheckName, CheckResult> = { database: 'ok', migrations: 'ok', signingKey: 'ok' };
    const problems: string[] = [];
    try {
      await store.ping();
    } catch {
      checks.database = 'failed';
      checks.migrations = 'failed';
      checks.signingKey = 'failed';
      return { ready: false, checks, message: 'database: the database does not answer.' };
    }
    try {
      const pending = await pendingMigrations();
      if (pending.length > 0) {
        checks.migrations = 'failed';
        problems.push(
          `migrations: ${pending.length} not applied (${pending.join(', ')}); run \`gatehouse migrate\`.`,
        );
      }
    } catch {
      checks.migrations = 'failed';
      problems.push('migrations: the migration table could not be read.');
    }
    try {
      if (!(await services.keys.hasSigningKey())) {
        checks.signingKey = 'failed';
        problems.push('signingKey: there is no active signing key (`gatehouse keys rotate` makes one).');
      }
    } catch {
      checks.signingKey = 'failed';
      problems.push('signingKey: the active signing key cannot be unsealed with the configured secret key.');
    }
    return problems.length === 0
      ? { ready: true, checks }
      : { ready: false, checks, message: problems.join(' ') };
  };
}
