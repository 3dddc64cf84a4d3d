/**
 * `gatehouse doctor`: checks what operators get wrong, one line per check with a reason and a
 * fix, exit code 0 when every check passes and 1 otherwise. It looks and never touches: no data
 * directory, secret key or database is created, SQLite is opened read-only (the -wal/-shm files
 * SQLite makes for that are removed again if they were not there), PostgreSQL in read-only
 * transactions without creating the schema.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { sql } from 'kysely';
import { type Config, ConfigError, isLoopback, loadConfig, maskUrl, parseSecretKey } from '../config.js';
import { SecretKeyring } from '../crypto.js';
import type { Store } from '../store/index.js';
import { CliExit, type CliIo, globalFlags } from './io.js';
import { writeJson } from './output.js';
import { loadTlsMaterial, type TlsMaterial } from '../tls.js';

export type CheckStatus = 'ok' | 'failed' | 'skipped';

export interface CheckLine {
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a failure. */
  fix?: string;
}

/** How far this machine's clock may be from the database server's (a token's `iat` tolerance). */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** Past GATEHOUSE_KEY_ROTATION_DAYS, how long before the active key counts as overdue (a running server rotates within a minute). */
const ROTATION_GRACE_MS = 3600_000;

const MARKS: Record<CheckStatus, string> = { ok: '✔', failed: '✖', skipped: '-' };

export function registerDoctor(program: Command, io: CliIo): void {
  program
    .command('doctor')
    .description(
      'check the data directory, file modes, secret key, database and migrations, clock, signing key, custom domain certificates, jwt access profile issuers, issuer, TLS files and Redis; exit 1 if any check fails',
    )
    .option('--json', 'print {ok, checks: [{check, status, detail, fix?}]} as JSON')
    .addHelpText(
      'after',
      '\nOne line per check: ✔ passed, ✖ failed (with the reason and "Fix: …"), - not applicable.\n' +
        'Exit code 0 when no check failed, 1 otherwise. Nothing is created or changed.',
    )
    .action(async (opts: { json?: boolean }, command: Command) => {
      const checks = await diagnose(io, command);
      const failed = checks.filter((c) => c.status === 'failed').length;
      if (opts.json) writeJson(io.stdout, { ok: failed === 0, checks });
      else {
        for (const c of checks) {
          io.stdout.write(
            `${MARKS[c.status]} ${c.check}: ${c.detail.replace(/\.$/, '')}${c.fix ? `. Fix: ${c.fix}` : ''}\n`,
          );
        }
        const ran = checks.filter((c) => c.status !== 'skipped').length;
        io.stdout.write(
          failed === 0 ? `All ${ran} checks passed.\n` : `${failed} of ${ran} checks failed.\n`,
        );
      }
      if (failed > 0) throw new CliExit(1);
    });
}

async function diagnose(io: CliIo, command: Command): Promise<CheckLine[]> {
  let config: Config;
  try {
    config = loadConfig(io.env, io.cwd, globalFlags(command));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [
      {
        check: 'configuration',
        status: 'failed',
        detail: error.message,
        fix: 'correct that variable (`gatehouse config show` lists the settings in effect)',
      },
    ];
  }
  const sqlite = config.databaseUrl === undefined;
  const lines: CheckLine[] = [
    { check: 'configuration', status: 'ok', detail: `valid (${sqlite ? 'SQLite' : 'PostgreSQL'})` },
  ];
  const dataDir = checkDataDir(config);
  lines.push(dataDir);
  if (sqlite) lines.push(checkDatabaseFile(config, dataDir.status !== 'failed'));
  const secret = checkSecretKey(config);
  lines.push(secret.line);
  const opened = await openDatabase(config);
  lines.push(opened.line);
  try {
    if (opened.store && opened.applied) {
      lines.push(await checkClock(opened.store, opened.applied));
      lines.push(await checkSigningKey(config, opened.store, secret.key));
      lines.push(await checkDomainCertificates(opened.store, secret.key));
      lines.push(await checkJwtProfileIssuers(opened.store, config));
    } else {
      lines.push({ check: 'clock', status: 'skipped', detail: 'needs the database' });
      lines.push({ check: 'signing key', status: 'skipped', detail: 'needs the database' });
      lines.push({ check: 'custom domains', status: 'skipped', detail: 'needs the database' });
      lines.push({ check: 'jwt profiles', status: 'skipped', detail: 'needs the database' });
    }
  } finally {
    await opened.close();
  }
  lines.push(checkIssuer(config));
  lines.push(checkTls(config));
  lines.push(await checkRedis(config));
  return lines;
}

function modeText(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

function checkDataDir(config: Config): CheckLine {
  const check = 'data directory';
  if (config.databaseUrl !== undefined && config.secretKey !== undefined) {
    return { check, status: 'skipped', detail: 'not used (PostgreSQL, GATEHOUSE_SECRET_KEY set)' };
  }
  let stat: fs.Stats;
  try {
    stat = fs.statSync(config.dataDir);
  } catch {
    return {
      check,
      status: 'failed',
      detail: `${config.dataDir} does not exist`,
      fix: 'check --data-dir / GATEHOUSE_DATA_DIR; `gatehouse init` creates a new instance there',
    };
  }
  if (!stat.isDirectory()) {
    return {
      check,
      status: 'failed',
      detail: `${config.dataDir} is not a directory`,
      fix: 'point GATEHOUSE_DATA_DIR at a directory',
    };
  }
  if ((stat.mode & 0o077) !== 0) {
    return {
      check,
      status: 'failed',
      detail: `${config.dataDir} is open to group/others (mode ${modeText(stat.mode)})`,
      fix: `chmod 700 ${config.dataDir}`,
    };
  }
  return { check, status: 'ok', detail: `${config.dataDir} (mode ${modeText(stat.mode)})` };
}

function sqliteFile(config: Config): string {
  return path.join(config.dataDir, 'gatehouse.db');
}

function checkDatabaseFile(config: Config, dataDirExists: boolean): CheckLine {
  const check = 'database file';
  const file = sqliteFile(config);
  if (!fs.existsSync(file)) {
    return dataDirExists
      ? {
          check,
          status: 'failed',
          detail: `${file} does not exist`,
          fix: 'check --data-dir / GATEHOUSE_DATA_DIR; `gatehouse init` creates a new instance there',
        }
      : { check, status: 'skipped', detail: 'no data directory' };
  }
  const open = [file, `${file}-wal`, `${file}-shm`].flatMap((each) => {
    try {
      const { mode } = fs.statSync(each);
      return (mode & 0o077) !== 0 ? [`${path.basename(each)} (mode ${modeText(mode)})`] : [];
    } catch {
      return [];
    }
  });
  if (open.length > 0) {
    return {
      check,
      status: 'failed',
      detail: `open to group/others: ${open.join(', ')}`,
      fix: `chmod 600 ${file}*`,
    };
  }
  return { check, status: 'ok', detail: `${file} (mode ${modeText(fs.statSync(file).mode)})` };
}

function checkSecretKey(config: Config): { line: CheckLine; key?: Buffer } {
  const check = 'secret key';
  if (config.secretKey !== undefined) {
    return {
      line: { check, status: 'ok', detail: `GATEHOUSE_SECRET_KEY, ${config.secretKey.length} bytes` },
      key: config.secretKey,
    };
  }
  const file = path.join(config.dataDir, 'secret.key');
  let text: string;
  let mode: number;
  try {
    text = fs.readFileSync(file, 'utf8');
    mode = fs.statSync(file).mode;
  } catch {
    return {
      line: {
        check,
        status: 'failed',
        detail: `GATEHOUSE_SECRET_KEY is not set and ${file} does not exist`,
        fix: 'put back the secret.key this instance was made with (a new key cannot read its signing keys or client secrets); `gatehouse init` makes one for a new instance',
      },
    };
  }
  let key: Buffer;
  try {
    key = parseSecretKey(text, file);
  } catch (error) {
    return {
      line: {
        check,
        status: 'failed',
        detail: error instanceof Error ? error.message : String(error),
        fix: 'put back the secret.key this instance was made with',
      },
    };
  }
  if ((mode & 0o077) !== 0) {
    return {
      line: {
        check,
        status: 'failed',
        detail: `${file} is open to group/others (mode ${modeText(mode)})`,
        fix: `chmod 600 ${file}`,
      },
      key,
    };
  }
  return {
    line: { check, status: 'ok', detail: `${file}, ${key.length} bytes (mode ${modeText(mode)})` },
    key,
  };
}

function describeDatabase(config: Config): string {
  if (config.databaseUrl === undefined) return `SQLite ${sqliteFile(config)}`;
  const schema = config.databaseSchema ? ` (schema ${config.databaseSchema})` : '';
  return `PostgreSQL ${maskUrl(config.databaseUrl)}${schema}`;
}

interface OpenedDatabase {
  line: CheckLine;
  store?: Store;
  /** Migrations applied, oldest first, with when; set when the migration table could be read. */
  applied?: Array<{ name: string; timestamp: string }>;
  close(): Promise<void>;
}

/** The -wal/-shm files a read-only SQLite open creates, removed again when they were not there before and hold nothing. */
function sqliteCompanionsCleanup(file: string): () => void {
  const companions = [`${file}-wal`, `${file}-shm`].filter((each) => !fs.existsSync(each));
  return () => {
    if (companions.length < 2) return;
    try {
      if (fs.statSync(`${file}-wal`).size !== 0) return;
    } catch {
      return;
    }
    for (const each of companions) fs.rmSync(each, { force: true });
  };
}

async function openDatabase(config: Config): Promise<OpenedDatabase> {
  const check = 'database';
  const where = describeDatabase(config);
  const none = async () => {};
  if (config.databaseUrl === undefined && !fs.existsSync(sqliteFile(config))) {
    return { line: { check, status: 'skipped', detail: `no database file (${where})` }, close: none };
  }
  const cleanup = config.databaseUrl === undefined ? sqliteCompanionsCleanup(sqliteFile(config)) : () => {};
  const { openStore } = await import('../store/index.js');
  const { MIGRATION_NAMES } = await import('../store/migrations/index.js');
  let store: Store;
  try {
    store = await openStore({
      databaseUrl: config.databaseUrl,
      databaseSchema: config.databaseSchema,
      sqliteFile: sqliteFile(config),
      poolSize: 1,
      readOnly: true,
    });
  } catch (error) {
    cleanup();
    return {
      line: {
        check,
        status: 'failed',
        detail: `cannot open ${where}: ${error instanceof Error ? error.message : String(error)}`,
        fix: 'check GATEHOUSE_DATABASE_URL / --data-dir and that the database server is running',
      },
      close: none,
    };
  }
  const close = async () => {
    await store.close();
    cleanup();
  };
  let applied: Array<{ name: string; timestamp: string }>;
  try {
    const { rows } = await sql<{ name: string; timestamp: string }>`
      select name, timestamp from kysely_migration order by name`.execute(store.db);
    applied = rows.map((r) => ({ name: r.name, timestamp: new Date(r.timestamp).toISOString() }));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const missing = /kysely_migration/.test(message) && /no such table|does not exist/.test(message);
    return {
      line: missing
        ? {
            check,
            status: 'failed',
            detail: `${where} holds no Gatehouse instance (no migration table)`,
            fix: 'check the database settings; `gatehouse init` creates a new instance',
          }
        : {
            check,
            status: 'failed',
            detail: `cannot reach ${where}: ${message}`,
            fix: 'check GATEHOUSE_DATABASE_URL (host, port, user, password) and that the server is running',
          },
      close,
    };
  }
  const names = applied.map((m) => m.name);
  const unknown = names.filter((name) => !MIGRATION_NAMES.includes(name));
  const pending = MIGRATION_NAMES.filter((name) => !names.includes(name));
  if (unknown.length > 0) {
    return {
      line: {
        check,
        status: 'failed',
        detail: `${where} was migrated by a newer Gatehouse (unknown migrations: ${unknown.join(', ')})`,
        fix: 'run the Gatehouse version that migrated it, or newer',
      },
      store,
      applied,
      close,
    };
  }
  if (pending.length > 0) {
    return {
      line: {
        check,
        status: 'failed',
        detail: `${where}: ${pending.length} of ${MIGRATION_NAMES.length} migrations not applied (${pending.join(', ')})`,
        fix: 'run `gatehouse migrate` (starting the server migrates too)',
      },
      store,
      applied,
      close,
    };
  }
  return {
    line: {
      check,
      status: 'ok',
      detail: `${where}: reachable, all ${MIGRATION_NAMES.length} migrations applied`,
    },
    store,
    applied,
    close,
  };
}

async function checkClock(store: Store, applied: Array<{ timestamp: string }>): Promise<CheckLine> {
  const check = 'clock';
  const fix = 'synchronise the system clock (NTP: `timedatectl set-ntp true`, chrony)';
  if (store.dialect === 'postgres') {
    const before = Date.now();
    const { rows } = await sql<{ now: Date }>`select now() as now`.execute(store.db);
    const after = Date.now();
    const skewSeconds = Math.round((new Date(rows[0]!.now).getTime() - (before + after) / 2) / 1000);
    if (Math.abs(skewSeconds) > CLOCK_TOLERANCE_SECONDS) {
      return {
        check,
        status: 'failed',
        detail: `this machine's clock is ${Math.abs(skewSeconds)} s ${skewSeconds > 0 ? 'behind' : 'ahead of'} the database server's (tolerance ${CLOCK_TOLERANCE_SECONDS} s)`,
        fix,
      };
    }
    return {
      check,
      status: 'ok',
      detail: `within ${Math.abs(skewSeconds)} s of the database server's (tolerance ${CLOCK_TOLERANCE_SECONDS} s)`,
    };
  }
  // SQLite has no server clock: the system clock must not be before what the database recorded.
  const recorded = [...applied.map((m) => m.timestamp)];
  for (const query of [
    sql<{ at: string | null }>`select max(created_at) as at from signing_keys`,
    sql<{ at: string | null }>`select max(occurred_at) as at from audit_events`,
  ]) {
    try {
      const at = (await query.execute(store.db)).rows[0]?.at;
      if (at) recorded.push(new Date(at).toISOString());
    } catch {
      // Table not there yet (migrations pending): the migration times still count.
    }
  }
  const latest = recorded.sort().at(-1);
  const now = new Date();
  if (latest !== undefined && new Date(latest).getTime() > now.getTime() + CLOCK_TOLERANCE_SECONDS * 1000) {
    return {
      check,
      status: 'failed',
      detail: `the system clock (${now.toISOString()}) is before the latest time the database recorded (${latest})`,
      fix,
    };
  }
  return {
    check,
    status: 'ok',
    detail: `${now.toISOString()}, after the latest time the database recorded${latest ? ` (${latest})` : ''}`,
  };
}

async function checkSigningKey(config: Config, store: Store, key: Buffer | undefined): Promise<CheckLine> {
  const check = 'signing key';
  let row: { kid: string; alg: string; created_at: string; private_key: string } | undefined;
  try {
    row = await store.db
      .selectFrom('signing_keys')
      .select(['kid', 'alg', 'created_at', 'private_key'])
      .where('status', '=', 'active')
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  } catch {
    return { check, status: 'skipped', detail: 'no signing key table (migrations pending)' };
  }
  if (!row) {
    return {
      check,
      status: 'failed',
      detail: 'there is no active signing key',
      fix: 'start the server (it makes one) or run `gatehouse keys rotate`',
    };
  }
  if (key === undefined)
    return { check, status: 'skipped', detail: `active key ${row.kid}; no secret key to unseal it with` };
  try {
    new SecretKeyring(key).decrypt(row.private_key, `signing-key:${row.kid}`);
  } catch {
    return {
      check,
      status: 'failed',
      detail: `the active key ${row.kid} cannot be unsealed with the configured secret key`,
      fix: 'use the secret key this database was made with (GATEHOUSE_SECRET_KEY or the backed-up secret.key)',
    };
  }
  const ageMs = Date.now() - new Date(row.created_at).getTime();
  const ageDays = Math.floor(ageMs / 86_400_000);
  const days = config.keyRotationDays;
  if (days > 0 && ageMs > days * 86_400_000 + ROTATION_GRACE_MS) {
    return {
      check,
      status: 'failed',
      detail: `the active key ${row.kid} is ${ageDays} days old; GATEHOUSE_KEY_ROTATION_DAYS is ${days}, so its rotation is overdue`,
      fix: 'run `gatehouse keys rotate` (a running server rotates it within a minute of the due time)',
    };
  }
  const rotation =
    days > 0 ? `rotated every ${days} days` : 'automatic rotation off (GATEHOUSE_KEY_ROTATION_DAYS=0)';
  return { check, status: 'ok', detail: `${row.kid} (${row.alg}), ${ageDays} days old, ${rotation}` };
}

/**
 * No jwt access profile names one of the instance's own issuers (`ownIssuerSource`): a
 * GATEHOUSE_ISSUER changed to a value a profile already named, or a profile made before that was
 * refused. Such a profile takes no token while the issuer is Gatehouse's own, and Gatehouse's own
 * tokens of a custom domain while the domain is disabled.
 */
async function checkJwtProfileIssuers(store: Store, config: Config): Promise<CheckLine> {
  const check = 'jwt profiles';
  let rows: Array<{ name: string; jwt_issuer: string | null }>;
  try {
    rows = await store.db
      .selectFrom('access_profiles')
      .select(['name', 'jwt_issuer'])
      .where('auth_method', '=', 'jwt')
      .orderBy('id')
      .execute();
  } catch {
    return { check, status: 'skipped', detail: 'no access profile table (migrations pending)' };
  }
  if (rows.length === 0) return { check, status: 'skipped', detail: 'no jwt access profile' };
  const { ownIssuerSource } = await import('../services/platform/domains.js');
  const conflicts: string[] = [];
  for (const row of rows) {
    if (row.jwt_issuer === null) continue;
    const source = await ownIssuerSource(store.db, config, row.jwt_issuer);
    if (source !== undefined) conflicts.push(`"${row.name}" (${row.jwt_issuer}: ${source})`);
  }
  if (conflicts.length > 0)
    return {
      check,
      status: 'failed',
      detail: `${conflicts.length} of ${rows.length} name one of Gatehouse's own issuers, whose tokens no jwt profile checks: ${conflicts.slice(0, 5).join(', ')}${conflicts.length > 5 ? ', …' : ''}`,
      fix: "give each its identity provider's issuer (PATCH /api/admin/v1/platform/profiles/{id} with jwt), or delete it",
    };
  return { check, status: 'ok', detail: `${rows.length} checked; none names one of Gatehouse's own issuers` };
}

/**
 * The certificates of enabled custom domains (API platform): none expired or within
 * TLS_RENEW_WITHIN_DAYS of its end (they are uploaded by hand until ACME is built), and every key
 * unseals with the configured secret key (else SNI falls back to the default certificate).
 */
async function checkDomainCertificates(
  store: Store,
  key: Buffer | undefined,
  now: Date = new Date(),
): Promise<CheckLine> {
  const check = 'custom domains';
  let rows: Array<{ hostname: string; cert_not_after: string | null; key_sealed: string | null }>;
  try {
    rows = await store.db
      .selectFrom('platform_domains')
      .select(['hostname', 'cert_not_after', 'key_sealed'])
      .where('enabled', '=', 1)
      .where('cert_pem', 'is not', null)
      .orderBy('cert_not_after')
      .execute();
  } catch {
    return { check, status: 'skipped', detail: 'no custom domain table (migrations pending)' };
  }
  if (rows.length === 0)
    return { check, status: 'skipped', detail: 'no enabled custom domain has a certificate of its own' };
  const fix =
    'upload a renewed certificate: gatehouse platform domains update <host> --cert FILE --key FILE (no restart)';
  const ending = rows.filter(
    (row) => Date.parse(row.cert_not_after ?? '') - now.getTime() < TLS_RENEW_WITHIN_DAYS * 86_400_000,
  );
  if (ending.length > 0) {
    const listed = ending
      .slice(0, 5)
      .map(
        (row) =>
          `${row.hostname} (${Date.parse(row.cert_not_after ?? '') <= now.getTime() ? 'expired' : 'expires'} ${row.cert_not_after})`,
      );
    return {
      check,
      status: 'failed',
      detail: `${ending.length} of ${rows.length} certificates expired or end within ${TLS_RENEW_WITHIN_DAYS} days: ${listed.join(', ')}${ending.length > 5 ? ', …' : ''}`,
      fix,
    };
  }
  if (key !== undefined) {
    const { domainKeyContext } = await import('../services/platform/domains.js');
    const keyring = new SecretKeyring(key);
    const sealed = rows.filter((row) => {
      try {
        keyring.decrypt(row.key_sealed ?? '', domainKeyContext(row.hostname));
        return false;
      } catch {
        return true;
      }
    });
    if (sealed.length > 0)
      return {
        check,
        status: 'failed',
        detail: `the private key of ${sealed.map((row) => row.hostname).join(', ')} cannot be unsealed with the configured secret key (SNI serves the default certificate)`,
        fix: 'use the secret key this database was made with, or upload the certificate and key again',
      };
  }
  const first = rows[0]!;
  const days = Math.floor((Date.parse(first.cert_not_after ?? '') - now.getTime()) / 86_400_000);
  return {
    check,
    status: 'ok',
    detail: `${rows.length} with a certificate of their own; the first to end: ${first.hostname} on ${first.cert_not_after} (${days} days)`,
  };
}

function checkIssuer(config: Config): CheckLine {
  const check = 'issuer';
  const url = new URL(config.issuer);
  if (url.search !== '' || url.hash !== '') {
    return {
      check,
      status: 'failed',
      detail: `${config.issuer} has a query or fragment`,
      fix: 'set GATEHOUSE_ISSUER to the plain base URL (scheme, host, optional path)',
    };
  }
  if (url.protocol === 'https:') return { check, status: 'ok', detail: config.issuer };
  if (isLoopback(url.hostname.replace(/^\[|\]$/g, ''))) {
    return { check, status: 'ok', detail: `${config.issuer} (plain http, loopback only)` };
  }
  return {
    check,
    status: 'failed',
    detail: `${config.issuer} is plain http on a non-loopback host: tokens and client secrets would cross the network unencrypted`,
    fix: 'set GATEHOUSE_ISSUER=https://<public name> and terminate TLS in front of Gatehouse',
  };
}

/** Certificates this close to their end are reported, so a renewal is not found missing at expiry. */
const TLS_RENEW_WITHIN_DAYS = 14;

function checkTls(config: Config, now: Date = new Date()): CheckLine {
  const check = 'tls';
  if (config.tls === undefined) return { check, status: 'skipped', detail: 'not configured (plain HTTP)' };
  let material: TlsMaterial;
  try {
    material = loadTlsMaterial(config.tls, now);
  } catch (error) {
    return {
      check,
      status: 'failed',
      detail: (error as Error).message,
      fix: 'point GATEHOUSE_TLS_CERT and GATEHOUSE_TLS_KEY at a PEM certificate and its own private key',
    };
  }
  const { summary } = material;
  const daysLeft = Math.floor((Date.parse(summary.validTo) - now.getTime()) / 86_400_000);
  const names = summary.subjectAltName ?? summary.subject;
  if (summary.expired || daysLeft < TLS_RENEW_WITHIN_DAYS) {
    return {
      check,
      status: 'failed',
      detail: `${config.tls.certFile} (${names}) ${summary.expired ? 'expired' : 'expires'} ${summary.validTo}`,
      fix: 'renew the certificate, replace the files and send SIGHUP to Gatehouse (no restart needed)',
    };
  }
  return {
    check,
    status: 'ok',
    detail: `${config.tls.certFile} (${names}), valid until ${summary.validTo} (${daysLeft} days)`,
  };
}

async function checkRedis(config: Config): Promise<CheckLine> {
  const check = 'redis';
  if (config.redisUrl === undefined) {
    return { check, status: 'skipped', detail: 'not configured (throttle counters in the database)' };
  }
  const where = maskUrl(config.redisUrl);
  const { pingRedis } = await import('../services/throttle.js');
  try {
    await pingRedis(config.redisUrl);
    return { check, status: 'ok', detail: `${where} answers PING` };
  } catch (error) {
    return {
      check,
      status: 'failed',
      detail: `cannot reach ${where}: ${error instanceof Error ? error.message : String(error)}`,
      fix: 'check that Redis runs and GATEHOUSE_REDIS_URL, or unset it to keep the throttle counters in the database',
    };
  }
}
